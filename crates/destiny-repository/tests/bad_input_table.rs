//! The bad-input table of `docs/reliability.md`: malformed requests sent over raw TCP to a
//! real server (both backends), each with its expected status and `detail`.
//!
//! For every row the test asserts: the status is the expected one and a 4xx (never a
//! 5xx), the body is JSON `{"detail": ...}` equal to the expected detail (FastAPI's list
//! details by location and message, some by a stable prefix), and the server still
//! answers its health check. Afterwards: nothing in the database or the blob directory
//! changed, no panic happened and nothing was logged at ERROR.
//!
//! The table is rendered as Markdown; with `UPDATE_DOCS=1` the SQLite run rewrites the
//! region between `<!-- bad-input-table:start -->` and `<!-- bad-input-table:end -->` of
//! `docs/reliability.md`, otherwise both runs assert that the region equals the
//! rendering, so the document cannot drift from the server.
//!
//! `TABLE_SHOW=1` prints every row's answer (handy when adding rows).

mod common;

use destiny_testkit::on_both_backends;

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use common::{poll_batch, sql, Backend, Options, Server, DEADLINE};
use destiny_repository::clock::Clock;
use destiny_repository::config::SignatureClock;
use destiny_sdk::models::ProvisionedRobot;
use serde_json::{json, Value};
use sqlx::Row as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

on_both_backends!(bad_input_table);

/// The JSON API's body limit in this test.
const MAX_BODY: usize = 64 * 1024;
/// The blob upload limit in this test.
const MAX_UPLOAD: u64 = 64 * 1024;
/// How long a body may stall before the server gives up, in this test.
const IDLE: Duration = Duration::from_secs(1);
/// An id no record has (version 4, so it passes the format checks).
const UNKNOWN: &str = "00000000-0000-4000-8000-000000000001";
/// The markers around the table in the document.
const START: &str = "<!-- bad-input-table:start -->";
const END: &str = "<!-- bad-input-table:end -->";

// ---------------------------------------------------------------------------------------
// Requests, sent byte for byte.

/// How the body goes on the wire.
#[derive(Debug, Clone)]
enum Sending {
    /// All of it, with a `Content-Length` (unless the row sets framing headers itself).
    Whole,
    /// `Content-Length: declared`, then the body, then nothing more: the connection stays
    /// open until the server answers.
    Stall { declared: usize },
    /// `Content-Length: declared`, then the body, then the client closes its sending side.
    CutShort { declared: usize },
    /// `Transfer-Encoding: chunked`, the body sent in 8 KiB chunks (no length known).
    Chunked,
    /// `Transfer-Encoding: chunked` with the body as the raw (possibly broken) framing.
    RawChunked,
}

/// One HTTP/1.1 request.
#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    /// Path and query, raw bytes (no normalisation of `..`, `%2e` or anything else).
    target: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    sending: Sending,
    /// Whether `host: localhost` is sent (rows about the `Host` header turn it off).
    default_host: bool,
}

fn req(method: &'static str, target: impl Into<Vec<u8>>) -> Req {
    Req {
        method,
        target: target.into(),
        headers: Vec::new(),
        body: Vec::new(),
        sending: Sending::Whole,
        default_host: true,
    }
}

impl Req {
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Appends a header (a second one of the same name is a duplicate).
    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Replaces the value of `name` (or removes it when `None`).
    fn set(mut self, name: &str, value: Option<&[u8]>) -> Self {
        let at = self
            .headers
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no header {name}"));
        match value {
            Some(v) => self.headers[at].1 = v.to_vec(),
            None => {
                self.headers.remove(at);
            }
        }
        self
    }

    /// Sends no `host: localhost` line (the row's own `host` headers, if any, only).
    fn without_default_host(mut self) -> Self {
        self.default_host = false;
        self
    }

    fn sending(mut self, sending: Sending) -> Self {
        self.sending = sending;
        self
    }

    fn admin(self, ctx: &Ctx) -> Self {
        let token = format!("Bearer {}", ctx.s.token);
        self.header("authorization", token)
    }

    /// Signs the body as `robot` at the server's time, offset by `skew` seconds.
    fn signed_as(self, robot: &ProvisionedRobot, ctx: &Ctx, skew: f64) -> Self {
        let body = self.body.clone();
        self.signed_with(
            robot.client_secret.as_str(),
            robot.id,
            ctx.now() + skew,
            &body,
        )
    }

    fn signed(self, ctx: &Ctx) -> Self {
        self.signed_as(&ctx.robot, ctx, 0.0)
    }

    /// Signature headers over `signed_body` (which may differ from the body sent).
    fn signed_with(mut self, secret: &str, id: Uuid, at: f64, signed_body: &[u8]) -> Self {
        for (name, value) in common::signed_headers(secret, &id.to_string(), at, signed_body) {
            self = self.header(name, value);
        }
        self
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if self.default_host {
            out.extend_from_slice(b"host: localhost\r\n");
        }
        out.extend_from_slice(b"connection: close\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        let framed = self
            .headers
            .iter()
            .any(|(n, _)| n == "content-length" || n == "transfer-encoding");
        match &self.sending {
            Sending::Whole if !framed => {
                let _ = write!(out, "content-length: {}\r\n", self.body.len());
            }
            Sending::Whole => {}
            Sending::Stall { declared } | Sending::CutShort { declared } => {
                let _ = write!(out, "content-length: {declared}\r\n");
            }
            Sending::Chunked | Sending::RawChunked => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        match &self.sending {
            Sending::Chunked => {
                for chunk in self.body.chunks(8 * 1024) {
                    let _ = write!(out, "{:x}\r\n", chunk.len());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            _ => out.extend_from_slice(&self.body),
        }
        out
    }

    /// The request line as the table shows it: ids as placeholders, the values of `se`
    /// and `sig` as `…`, shortened to 72 characters.
    fn line(&self, placeholders: &[(String, &'static str)]) -> String {
        let mut target = String::from_utf8_lossy(&self.target).into_owned();
        for (value, name) in placeholders {
            target = target.replace(value.as_str(), name);
        }
        let target = match target.split_once('?') {
            Some((path, query)) => {
                let query: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((n @ ("se" | "sig"), _)) => format!("{n}=…"),
                        _ => pair.to_owned(),
                    })
                    .collect();
                format!("{path}?{}", query.join("&"))
            }
            None => target,
        };
        let target = if target.chars().count() > 72 {
            format!("{}…", target.chars().take(71).collect::<String>())
        } else {
            target
        };
        format!("{} {target}", self.method)
    }
}

/// A response: status, headers (lower-case names) and body.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn send(addr: SocketAddr, request: &Req) -> Resp {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before reading everything (413, 408): a failed
    // write is then expected; the answer is what counts.
    let _ = stream.write_all(&request.to_bytes()).await;
    if matches!(request.sending, Sending::CutShort { .. }) {
        let _ = stream.shutdown().await;
    }
    let mut raw = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer in time to {}", request.line(&[]));
    parse(&raw).unwrap_or_else(|| {
        panic!(
            "not an HTTP response to {} (did the server panic?): {:?}",
            request.line(&[]),
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse(raw: &[u8]) -> Option<Resp> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body)?;
    }
    Some(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).ok()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(eol + 2..eol + 2 + size)?);
        raw = raw.get(eol + 4 + size..)?;
    }
}

// ---------------------------------------------------------------------------------------
// Rows.

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Headers,
    Query,
    Body,
    Jsonl,
    BlobUrl,
    Path,
    Size,
    Stall,
}

impl Category {
    fn as_str(self) -> &'static str {
        match self {
            Self::Headers => "headers",
            Self::Query => "query",
            Self::Body => "body",
            Self::Jsonl => "JSONL",
            Self::BlobUrl => "blob URL",
            Self::Path => "path",
            Self::Size => "size",
            Self::Stall => "stall",
        }
    }
}

/// The expected `detail`.
#[derive(Debug, Clone)]
enum Detail {
    /// A text detail, exactly.
    Text(String),
    /// A text detail starting with this.
    TextPrefix(String),
    /// FastAPI's list detail: the first entry's `loc` (joined with `.`) and `msg`
    /// exactly.
    List(&'static str, String),
    /// The same with `msg` starting with this.
    ListPrefix(&'static str, String),
    /// No body at all: the HTTP layer (hyper) refuses the request before any route runs,
    /// so it cannot answer JSON. The text says why.
    NoBody(&'static str),
}

fn text(t: impl Into<String>) -> Detail {
    Detail::Text(t.into())
}
fn text_prefix(t: impl Into<String>) -> Detail {
    Detail::TextPrefix(t.into())
}
fn list(loc: &'static str, msg: impl Into<String>) -> Detail {
    Detail::List(loc, msg.into())
}
fn list_prefix(loc: &'static str, msg: impl Into<String>) -> Detail {
    Detail::ListPrefix(loc, msg.into())
}

impl Detail {
    /// How the table shows it (a prefix ends in `…`).
    fn render(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::TextPrefix(t) => format!("{t}…"),
            Self::List(loc, msg) => format!("[{loc}] {msg}"),
            Self::ListPrefix(loc, msg) => format!("[{loc}] {msg}…"),
            Self::NoBody(why) => format!("(no body: {why})"),
        }
    }

    /// Whether an actual detail (placeholders substituted) matches.
    fn matches(&self, actual: &Value) -> bool {
        let first = || -> Option<(String, String)> {
            let entry = actual.as_array()?.first()?;
            let loc: Vec<String> = entry["loc"]
                .as_array()?
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            Some((loc.join("."), entry["msg"].as_str()?.to_owned()))
        };
        match self {
            Self::Text(t) => actual.as_str() == Some(t.as_str()),
            Self::TextPrefix(t) => actual.as_str().is_some_and(|a| a.starts_with(t.as_str())),
            Self::List(loc, msg) => first() == Some(((*loc).to_owned(), msg.clone())),
            Self::ListPrefix(loc, msg) => {
                first().is_some_and(|(l, m)| l == *loc && m.starts_with(msg.as_str()))
            }
            Self::NoBody(_) => actual.is_null(),
        }
    }
}

/// Something to do around a row.
#[derive(Debug, Clone, Copy)]
enum Around {
    Nothing,
    /// Move the server's clock forward for this row, then back.
    ClockAhead(Duration),
}

/// One row of the table.
struct Row {
    name: &'static str,
    category: Category,
    /// What is wrong with the request.
    wrong: &'static str,
    req: Req,
    status: u16,
    detail: Detail,
    around: Around,
}

fn row(
    name: &'static str,
    category: Category,
    wrong: &'static str,
    req: Req,
    status: u16,
    detail: Detail,
) -> Row {
    Row {
        name,
        category,
        wrong,
        req,
        status,
        detail,
        around: Around::Nothing,
    }
}

// ---------------------------------------------------------------------------------------
// The server and what the rows refer to.

struct Ctx {
    s: Server,
    addr: SocketAddr,
    /// The robot that sends most rows; holds `batch`.
    robot: ProvisionedRobot,
    /// Another robot, holding `other_batch`.
    other: ProvisionedRobot,
    batch: Uuid,
    other_batch: Uuid,
    references: Vec<Uuid>,
    /// Path and query of `batch`'s reference file URL (read).
    read_url: String,
    /// Path and query of `batch`'s result file URL (write).
    write_url: String,
    /// Path and query of `other_batch`'s result file URL.
    other_write_url: String,
}

impl Ctx {
    async fn new(backend: Backend) -> Self {
        let s = Server::start(
            backend,
            Options {
                tweak: Box::new(|c| {
                    c.max_body_bytes = MAX_BODY;
                    c.max_upload_bytes = MAX_UPLOAD;
                    c.body_idle_timeout = IDLE;
                    c.signature_clock = SignatureClock::Server;
                }),
                ..Options::default()
            },
        )
        .await;
        let addr: SocketAddr = s.base.trim_start_matches("http://").parse().expect("addr");
        let (robot, client) = s.robot("table-robot").await;
        let (other, other_client) = s.robot("table-other").await;
        let references = s.references(3).await;
        s.request(robot.id, &references[..2]).await;
        s.request(other.id, &references[2..]).await;
        let batch = poll_batch(&client, robot.id, 10).await;
        let other_batch = poll_batch(&other_client, other.id, 10).await;
        let local = |url: &destiny_sdk::models::HttpUrl| {
            url.as_str()
                .strip_prefix(&s.base)
                .expect("a URL of this server")
                .to_owned()
        };
        let read_url = local(&batch.reference_storage_url);
        let write_url = local(&batch.result_storage_url);
        let other_write_url = local(&other_batch.result_storage_url);
        Self {
            addr,
            robot,
            other,
            batch: batch.id,
            other_batch: other_batch.id,
            references,
            read_url,
            write_url,
            other_write_url,
            s,
        }
    }

    /// The server's time (what the HMAC layer checks against), in seconds.
    fn now(&self) -> f64 {
        self.s.clock.now().as_microsecond() as f64 / 1e6
    }

    /// Dynamic values and the placeholders the table shows instead.
    fn placeholders(&self) -> Vec<(String, &'static str)> {
        let mut out = vec![
            (self.robot.id.to_string(), "{robot}"),
            (self.other.id.to_string(), "{other-robot}"),
            (self.batch.to_string(), "{batch}"),
            (self.other_batch.to_string(), "{other-batch}"),
        ];
        for (id, name) in self
            .references
            .iter()
            .zip(["{ref-1}", "{ref-2}", "{ref-3}"])
        {
            out.push((id.to_string(), name));
        }
        out.push((UNKNOWN.to_owned(), "{unknown}"));
        out
    }

    fn poll_path(&self) -> String {
        format!(
            "/v1/robot-enhancement-batches/?robot_id={}&limit=1",
            self.robot.id
        )
    }

    /// A poll signed by the robot, with `query` after `robot_id`.
    fn poll(&self, query: &str) -> Req {
        req(
            "POST",
            format!(
                "/v1/robot-enhancement-batches/?robot_id={}{query}",
                self.robot.id
            ),
        )
        .signed(self)
    }

    fn results_path(&self) -> String {
        format!("/v1/robot-enhancement-batches/{}/results/", self.batch)
    }

    /// A result submission for `batch`, signed over `body`.
    fn submit(&self, body: impl Into<Vec<u8>>) -> Req {
        req("POST", self.results_path()).body(body).signed(self)
    }

    /// A reference import (admin).
    fn import(&self, body: impl Into<Vec<u8>>) -> Req {
        req("POST", "/v1/references/").body(body).admin(self)
    }

    /// A blob URL with one query parameter's value replaced.
    fn with_param(url: &str, name: &str, value: &str) -> String {
        let (path, query) = url.split_once('?').expect("a signed URL");
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((n, _)) if n == name => format!("{n}={value}"),
                _ => pair.to_owned(),
            })
            .collect();
        format!("{path}?{}", query.join("&"))
    }

    fn param<'a>(url: &'a str, name: &str) -> &'a str {
        url.split_once('?')
            .expect("a signed URL")
            .1
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .expect("parameter")
    }

    fn query_of(url: &str) -> &str {
        url.split_once('?').expect("a signed URL").1
    }
}

/// A name of `n` characters that does not compress (a 1 MB name of one repeated letter
/// compresses under PostgreSQL's index limit; this one would not, without the limit).
fn long_name(n: usize) -> String {
    let mut state = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

/// A reference line for the import rows.
fn reference_line(i: usize) -> String {
    json!({"identifiers": [{"identifier": format!("W{}", 900 + i), "identifier_type": "open_alex"}]})
        .to_string()
}

// ---------------------------------------------------------------------------------------
// The table.

fn rows(c: &Ctx) -> Vec<Row> {
    use Category::*;
    let poll = c.poll("&limit=1");
    let secret = c.robot.client_secret.as_str();
    let not_an_integer = || {
        list(
            "query.limit",
            "Input should be a valid integer, unable to parse string as an integer",
        )
    };
    let mut rows = vec![
        // --- HMAC (spec §1), in the order of the checks, then the deviations.
        row("no Authorization", Headers, "poll without `Authorization`",
            poll.clone().set("authorization", None), 401, text("Authorization header missing.")),
        row("empty Authorization", Headers, "`Authorization:` with an empty value",
            poll.clone().set("authorization", Some(b"")), 401, text("Authorization header missing.")),
        row("Bearer scheme", Headers, "`Authorization: Bearer <hex>`",
            poll.clone().set("authorization", Some(b"Bearer abc")), 401, text("Authorization type not supported.")),
        row("lower-case scheme", Headers, "`Authorization: signature <hex>`",
            poll.clone().set("authorization", Some(b"signature abc")), 401, text("Authorization type not supported.")),
        row("scheme without signature", Headers, "`Authorization: Signature` (no space, no value)",
            poll.clone().set("authorization", Some(b"Signature")), 401, text("Signature is invalid.")),
        row("no X-Client-Id", Headers, "poll without `X-Client-Id`",
            poll.clone().set("x-client-id", None), 401, text("X-Client-Id header missing")),
        row("client id not a UUID", Headers, "`X-Client-Id: robot-1`",
            poll.clone().set("x-client-id", Some(b"robot-1")), 401, text("Invalid format for client id, expected UUIDv4 or UUIDv7.")),
        row("client id v1 (DEVIATION)", Headers, "`X-Client-Id` a version-1 UUID",
            req("POST", c.poll_path()).signed_with(secret, "c232ab00-9414-11ec-b3c8-9f6bdeced846".parse().expect("uuid"), c.now(), b""),
            401, text("Invalid format for client id, expected UUIDv4 or UUIDv7.")),
        row("no X-Request-Timestamp", Headers, "poll without `X-Request-Timestamp`",
            poll.clone().set("x-request-timestamp", None), 401, text("X-Request-Timestamp header missing")),
        row("timestamp not a number (DEVIATION)", Headers, "`X-Request-Timestamp: yesterday`",
            poll.clone().set("x-request-timestamp", Some(b"yesterday")), 401,
            text("Invalid format for request timestamp, expected a number.")),
        row("timestamp nan (DEVIATION)", Headers, "`X-Request-Timestamp: nan`",
            poll.clone().set("x-request-timestamp", Some(b"nan")), 401,
            text("Invalid request timestamp, expected a finite number.")),
        row("timestamp inf (DEVIATION)", Headers, "`X-Request-Timestamp: inf`",
            poll.clone().set("x-request-timestamp", Some(b"inf")), 401,
            text("Invalid request timestamp, expected a finite number.")),
        row("timestamp 301 s old", Headers, "signed 301 s before the server's clock",
            req("POST", c.poll_path()).signed_as(&c.robot, c, -301.0), 401, text("Token is expired.")),
        row("timestamp 301 s ahead (DEVIATION)", Headers, "signed 301 s after the server's clock",
            req("POST", c.poll_path()).signed_as(&c.robot, c, 301.0), 401,
            text("Request timestamp is too far in the future.")),
        row("unknown robot", Headers, "a well-formed v4 client id no robot has",
            req("POST", c.poll_path()).signed_with(secret, UNKNOWN.parse().expect("uuid"), c.now(), b""),
            401, text("robot client {unknown} does not exist.")),
        row("wrong secret", Headers, "signed with another secret",
            req("POST", c.poll_path()).signed_with(&"0".repeat(64), c.robot.id, c.now(), b""),
            401, text("Signature is invalid.")),
        row("signature of another body", Headers, "signature over `{}`, empty body sent",
            req("POST", c.poll_path()).signed_with(secret, c.robot.id, c.now(), b"{}"),
            401, text("Signature is invalid.")),
        row("signature not hex", Headers, "`Authorization: Signature zz`",
            poll.clone().set("authorization", Some(b"Signature zz")), 401, text("Signature is invalid.")),
        row("signature in upper case", Headers, "the right signature, upper-case hex",
            {
                let good = poll.clone();
                let sig = good.headers.iter().find(|(n, _)| n == "authorization").expect("signed").1.clone();
                let upper = String::from_utf8(sig).expect("ascii").to_uppercase().replacen("SIGNATURE", "Signature", 1);
                good.set("authorization", Some(upper.as_bytes()))
            },
            401, text("Signature is invalid.")),
        // --- Header garbage.
        row("non-UTF-8 signature", Headers, "`Authorization: Signature \\xff\\xfe`",
            poll.clone().set("authorization", Some(b"Signature \xff\xfe")), 401, text("Signature is invalid.")),
        row("non-UTF-8 client id", Headers, "`X-Client-Id` with bytes `\\xff\\xfe`",
            poll.clone().set("x-client-id", Some(b"\xff\xfe")), 401, text("Invalid format for client id, expected UUIDv4 or UUIDv7.")),
        row("non-UTF-8 timestamp", Headers, "`X-Request-Timestamp` with bytes `\\xe9\\xff`",
            poll.clone().set("x-request-timestamp", Some(b"\xe9\xff")), 401,
            text("Invalid format for request timestamp, expected a number.")),
        row("16 KiB signature", Headers, "`Authorization: Signature` + 16 KiB of hex",
            poll.clone().set("authorization", Some(format!("Signature {}", "a".repeat(16 * 1024)).as_bytes())),
            401, text("Signature is invalid.")),
        row("16 KiB client id", Headers, "`X-Client-Id` of 16 KiB",
            poll.clone().set("x-client-id", Some("7".repeat(16 * 1024).as_bytes())), 401,
            text("Invalid format for client id, expected UUIDv4 or UUIDv7.")),
        row("16 KiB timestamp", Headers, "`X-Request-Timestamp` of 16 KiB of digits",
            poll.clone().set("x-request-timestamp", Some("1".repeat(16 * 1024).as_bytes())), 401,
            text("Invalid request timestamp, expected a finite number.")),
        row("duplicate Authorization", Headers, "a garbage `Authorization` first, the valid one second",
            {
                let good = poll.clone();
                let sig = good.headers.iter().find(|(n, _)| n == "authorization").expect("signed").1.clone();
                good.set("authorization", Some(b"Signature 00")).header("authorization", sig)
            },
            401, text("Signature is invalid.")),
        row("duplicate X-Client-Id", Headers, "the other robot's id first, the signer's second",
            {
                let good = poll.clone();
                good.set("x-client-id", Some(c.other.id.to_string().as_bytes()))
                    .header("x-client-id", c.robot.id.to_string())
            },
            401, text("Signature is invalid.")),
        row("header section too large", Headers, "a 512 KiB `X-Padding` header",
            poll.clone().header("x-padding", "p".repeat(512 * 1024)), 431,
            Detail::NoBody("hyper's header limit, before routing")),
        row("conflicting Content-Length", Headers, "two `Content-Length` headers, 2 and 5 (request smuggling)",
            c.import("{}").header("content-length", "2").header("content-length", "5"), 400,
            Detail::NoBody("hyper refuses the framing, before routing")),
        row("no Host (HTTP/1.1)", Headers, "an HTTP/1.1 poll without `Host` (HTTP/1.0 may omit it)",
            poll.clone().without_default_host(), 400,
            text("Missing Host header: HTTP/1.1 requests must carry one (RFC 9112 section 3.2).")),
        row("two Host headers", Headers, "`Host: localhost` twice",
            poll.clone().header("host", "localhost"), 400, text("More than one Host header (RFC 9112 section 3.2).")),
        row("Host not a host", Headers, "`Host: a b`",
            poll.clone().without_default_host().header("host", "a b"), 400,
            text("Invalid Host header (RFC 9112 section 3.2).")),
        row("admin: no token", Headers, "no `Authorization`",
            req("POST", "/v1/robots/").body(r#"{"name":"x","description":"d","owner":"o"}"#), 401,
            text("Admin routes require an Authorization: Bearer <admin token> header.")),
        row("admin: wrong token", Headers, "`Authorization: Bearer <not the token>`",
            req("GET", "/v1/robots/").header("authorization", "Bearer nope"), 401, text("Invalid admin token.")),
        row("admin: non-UTF-8 token", Headers, "`Authorization: Bearer \\xff`",
            req("GET", "/v1/robots/").header("authorization", b"Bearer \xff".to_vec()), 401,
            text("Invalid admin token.")),
        row("admin: robot signature", Headers, "a robot's HMAC-signed request",
            req("GET", "/v1/robots/").signed(c), 401,
            text("Admin routes require an Authorization: Bearer <admin token> header.")),
        // --- Query parameters.
        row("limit=0", Query, "`limit=0`", c.poll("&limit=0"), 422, list("query.limit", "Input should be greater than 0")),
        row("limit=-1", Query, "`limit=-1`", c.poll("&limit=-1"), 422, list("query.limit", "Input should be greater than 0")),
        row("limit=abc", Query, "`limit=abc`", c.poll("&limit=abc"), 422, not_an_integer()),
        row("limit=1e3", Query, "`limit=1e3`", c.poll("&limit=1e3"), 422, not_an_integer()),
        row("limit huge", Query, "`limit=99999999999999999999` (beyond 64 bits)", c.poll("&limit=99999999999999999999"), 422, not_an_integer()),
        row("limit empty", Query, "`limit=`", c.poll("&limit="), 422, not_an_integer()),
        row("lease=600", Query, "`lease=600` (pydantic refuses bare numbers)", c.poll("&lease=600"), 422,
            list_prefix("query.lease", "invalid duration \"600\"")),
        row("lease=10m", Query, "`lease=10m`", c.poll("&lease=10m"), 422, list_prefix("query.lease", "invalid duration \"10m\"")),
        row("lease=PT10m", Query, "`lease=PT10m` (lower-case unit)", c.poll("&lease=PT10m"), 422,
            list_prefix("query.lease", "invalid duration \"PT10m\"")),
        row("lease=PT0S", Query, "`lease=PT0S`", c.poll("&lease=PT0S"), 422,
            list("query.lease", "invalid duration \"PT0S\": a lease must be longer than zero")),
        row("lease=-PT1M", Query, "`lease=-PT1M`", c.poll("&lease=-PT1M"), 422,
            list_prefix("query.lease", "invalid duration \"-PT1M\"")),
        row("lease beyond pydantic's range", Query, "`lease=P99999999999D`", c.poll("&lease=P99999999999D"), 422,
            list_prefix("query.lease", "invalid duration \"P99999999999D\"")),
        row("duplicate limit", Query, "`limit=1&limit=abc` (the last one counts)", c.poll("&limit=1&limit=abc"), 422, not_an_integer()),
        row("lease=soon", Query, "`lease=soon`", c.poll("&lease=soon"), 422, list_prefix("query.lease", "invalid duration \"soon\"")),
        row("renew lease=PT0S", Query, "`lease=PT0S` on a renewal",
            req("PATCH", format!("/v1/robot-enhancement-batches/{}/renew-lease/?lease=PT0S", c.batch)).signed(c), 422,
            list("query.lease", "invalid duration \"PT0S\": a lease must be longer than zero")),
        row("robot_id missing", Query, "poll without `robot_id`",
            req("POST", "/v1/robot-enhancement-batches/?limit=1").signed(c), 422, list("query.robot_id", "Field required")),
        row("robot_id not a UUID", Query, "`robot_id=nope`",
            req("POST", "/v1/robot-enhancement-batches/?robot_id=nope").signed(c), 422,
            list_prefix("query.robot_id", "Input should be a valid UUID, ")),
        row("robot_id not UTF-8", Query, "`robot_id=%ff`",
            req("POST", "/v1/robot-enhancement-batches/?robot_id=%ff").signed(c), 422,
            list_prefix("query.robot_id", "Input should be a valid UUID, ")),
        row("robot_id of another robot (DEVIATION)", Query, "`robot_id={other-robot}`, signed by `{robot}`",
            req("POST", format!("/v1/robot-enhancement-batches/?robot_id={}", c.other.id)).signed(c), 403,
            text("robot_id does not match the authenticated robot.")),
        // --- Bodies.
        row("result: not JSON", Body, "body `hello`", c.submit("hello"), 422,
            list_prefix("body", "expected value")),
        row("result: empty body", Body, "no body", c.submit(""), 422,
            list_prefix("body", "EOF while parsing a value")),
        row("result: invalid UTF-8", Body, "body bytes `\\xff\\xfe`", c.submit(b"\xff\xfe".to_vec()), 422,
            list_prefix("body", "body is not valid UTF-8")),
        row("result: array", Body, "body `[]`", c.submit("[]"), 422,
            list_prefix("body", "invalid type: sequence, expected struct RobotEnhancementBatchResult")),
        row("result: request_id wrong type", Body, "`{\"request_id\": 5}`", c.submit(r#"{"request_id": 5}"#), 422,
            list_prefix("body.request_id", "invalid type: integer `5`")),
        row("result: request_id missing", Body, "`{}`", c.submit("{}"), 422,
            list_prefix("body", "missing field `request_id`")),
        row("result: error wrong type", Body, "`{\"request_id\": \"{batch}\", \"error\": \"boom\"}`",
            c.submit(json!({"request_id": c.batch, "error": "boom"}).to_string()), 422,
            list_prefix("body.error", "invalid type: string \"boom\"")),
        row("result: request_id mismatch", Body, "`request_id` names another batch than the path",
            c.submit(json!({"request_id": UNKNOWN}).to_string()), 400, text("Request ID mismatch")),
        row("result: NUL in error message", Body, "`\"error\": {\"message\": \"boom\\u0000\"}`",
            c.submit(json!({"request_id": c.batch, "error": {"message": "boom\u{0}"}}).to_string()), 422,
            list("body.error.message", "String should not contain the NUL character (U+0000)")),
        row("legacy result: NUL in error message", Body, "`\"error\": {\"message\": \"\\u0000\"}` on the legacy route",
            req("POST", format!("/v1/enhancement-requests/{UNKNOWN}/results/"))
                .body(json!({"request_id": UNKNOWN, "error": {"message": "\u{0}"}}).to_string()).signed(c), 422,
            list("body.error.message", "String should not contain the NUL character (U+0000)")),
        row("legacy result: mismatch", Body, "`request_id` names another request than the path",
            req("POST", format!("/v1/enhancement-requests/{UNKNOWN}/results/"))
                .body(json!({"request_id": c.batch}).to_string()).signed(c), 400, text("Request ID mismatch")),
        row("RobotIn: unknown field", Body, "`{\"name\", \"description\", \"owner\", \"extra\": 1}`",
            req("POST", "/v1/robots/").body(r#"{"name":"n","description":"d","owner":"o","extra":1}"#).admin(c), 422,
            list("body.extra", "unknown field `extra`, expected one of `name`, `description`, `owner`, `entitlements`")),
        row("RobotIn: unknown entitlement", Body, "`\"entitlements\": [\"root\"]`",
            req("POST", "/v1/robots/").body(r#"{"name":"n","description":"d","owner":"o","entitlements":["root"]}"#).admin(c), 422,
            list_prefix("body.entitlements[0]", "unknown variant `root`")),
        row("RobotIn update: unknown entitlement", Body, "`\"entitlements\": [\"full_text\", \"admin\"]`",
            req("PUT", format!("/v1/robots/{}/", c.other.id))
                .body(r#"{"name":"n","description":"d","owner":"o","entitlements":["full_text","admin"]}"#).admin(c), 422,
            list_prefix("body.entitlements[1]", "unknown variant `admin`")),
        row("RobotIn: field missing", Body, "no `owner`",
            req("POST", "/v1/robots/").body(r#"{"name":"n","description":"d"}"#).admin(c), 422,
            list_prefix("body", "missing field `owner`")),
        row("RobotIn: empty body", Body, "no body",
            req("POST", "/v1/robots/").admin(c), 422, list_prefix("body", "EOF while parsing a value")),
        row("RobotIn: invalid UTF-8", Body, "body bytes `\\xc3\\x28`",
            req("POST", "/v1/robots/").body(b"\xc3\x28".to_vec()).admin(c), 422,
            list_prefix("body", "body is not valid UTF-8")),
        row("RobotIn: duplicate name", Body, "the name `table-other` is taken",
            req("POST", "/v1/robots/").body(r#"{"name":"table-other","description":"d","owner":"o"}"#).admin(c), 409,
            text("A robot named \"table-other\" already exists.")),
        row("RobotIn: NUL in name", Body, "`\"name\": \"a\\u0000b\"` (PostgreSQL cannot store NUL in text; refused on both)",
            req("POST", "/v1/robots/").body(r#"{"name":"a\u0000b","description":"d","owner":"o"}"#).admin(c), 422,
            list("body.name", "String should not contain the NUL character (U+0000)")),
        row("RobotIn: NUL in description", Body, "`\"description\": \"\\u0000\"`",
            req("POST", "/v1/robots/").body(r#"{"name":"n","description":"\u0000","owner":"o"}"#).admin(c), 422,
            list("body.description", "String should not contain the NUL character (U+0000)")),
        row("RobotIn: NUL in owner", Body, "`\"owner\": \"o\\u0000\"`",
            req("POST", "/v1/robots/").body(r#"{"name":"n","description":"d","owner":"o\u0000"}"#).admin(c), 422,
            list("body.owner", "String should not contain the NUL character (U+0000)")),
        row("RobotIn: name too long", Body, "a name of 4,000 characters (unique index: at most 256)",
            req("POST", "/v1/robots/").body(json!({"name": long_name(4000), "description": "d", "owner": "o"}).to_string()).admin(c), 422,
            list("body.name", "String should have at most 256 characters")),
        row("RobotIn update: name too long", Body, "a name of 257 characters",
            req("PUT", format!("/v1/robots/{}/", c.other.id))
                .body(json!({"name": "n".repeat(257), "description": "d", "owner": "o"}).to_string()).admin(c), 422,
            list("body.name", "String should have at most 256 characters")),
        row("RobotIn update: NUL in owner", Body, "`\"owner\": \"\\u0000\"`",
            req("PUT", format!("/v1/robots/{}/", c.other.id))
                .body(r#"{"name":"n","description":"d","owner":"\u0000"}"#).admin(c), 422,
            list("body.owner", "String should not contain the NUL character (U+0000)")),
        row("request: NUL in source", Body, "`\"source\": \"s\\u0000\"`",
            req("POST", "/v1/enhancement-requests/")
                .body(json!({"robot_id": c.robot.id, "reference_ids": [c.references[0]], "source": "s\u{0}"}).to_string()).admin(c), 422,
            list("body.source", "String should not contain the NUL character (U+0000)")),
        row("request: unknown reference", Body, "`reference_ids` names a reference no record has",
            req("POST", "/v1/enhancement-requests/")
                .body(json!({"robot_id": c.robot.id, "reference_ids": [UNKNOWN]}).to_string()).admin(c), 422,
            text("1 reference(s) do not exist: {unknown}")),
        row("request: duplicate reference", Body, "`reference_ids` holding `{ref-1}` twice",
            req("POST", "/v1/enhancement-requests/")
                .body(json!({"robot_id": c.robot.id, "reference_ids": [c.references[0], c.references[0]]}).to_string()).admin(c), 422,
            list("body.reference_ids", "reference_ids must not contain duplicate ids.")),
        row("request: no reference", Body, "`reference_ids: []`",
            req("POST", "/v1/enhancement-requests/")
                .body(json!({"robot_id": c.robot.id, "reference_ids": []}).to_string()).admin(c), 422,
            text("reference_ids must not be empty.")),
        row("request: unknown robot", Body, "`robot_id` no robot has",
            req("POST", "/v1/enhancement-requests/")
                .body(json!({"robot_id": UNKNOWN, "reference_ids": [c.references[0]]}).to_string()).admin(c), 404,
            text("Robot with id {unknown} does not exist.")),
        // --- JSONL imports (all or nothing: the database snapshot is checked at the end).
        row("JSONL: invalid JSON on line 3", Jsonl, "line 3 is cut short",
            c.import(format!("{}\n{}\n{{\"identifiers\": [\n", reference_line(1), reference_line(2))), 422,
            text_prefix("Line 3: ")),
        row("JSONL: bad DOI on line 2", Jsonl, "line 2 has the DOI `not-a-doi`",
            c.import(format!("{}\n{}\n", reference_line(1),
                json!({"identifiers": [{"identifier": "not-a-doi", "identifier_type": "doi"}]}))), 422,
            text_prefix("Line 2: ")),
        row("JSONL: blank lines count", Jsonl, "a bad line after a blank line is line 3",
            c.import(format!("{}\n\n{}\n", reference_line(1), json!({"visibility": "secret"}))), 422,
            text_prefix("Line 3: ")),
        row("JSONL: line is an array", Jsonl, "line 1 is `[1, 2]`", c.import("[1, 2]\n"), 422, text_prefix("Line 1: ")),
        row("JSONL: tombstone in an import", Jsonl, "line 2 carries a `tombstone` enhancement",
            c.import(format!("{}\n{}\n", reference_line(1), json!({"enhancements": [
                {"source": "s", "visibility": "public",
                 "content": {"enhancement_type": "abstract", "process": "other", "abstract": "A."}},
                {"source": "s", "visibility": "public",
                 "content": {"enhancement_type": "tombstone"}}]}))), 422,
            text("Line 2: enhancements[1]: an import cannot carry a tombstone enhancement")),
        row("JSONL: supersedes in an import", Jsonl, "line 1's enhancement has `supersedes` (an import has nothing stored to supersede)",
            c.import(format!("{}\n", json!({"enhancements": [
                {"source": "s", "visibility": "public", "supersedes": UNKNOWN,
                 "content": {"enhancement_type": "abstract", "process": "other", "abstract": "A."}}]}))), 422,
            text("Line 1: enhancements[0].supersedes: an import cannot supersede enhancements (a robot holding enhancement_supersession_writer can)")),
        row("JSONL: enhancement of another reference", Jsonl, "line 1's enhancement names another `reference_id` (never moved silently)",
            c.import(format!("{}\n", json!({"id": c.batch, "enhancements": [
                {"source": "s", "visibility": "public", "reference_id": UNKNOWN,
                 "content": {"enhancement_type": "abstract", "process": "other", "abstract": "A."}}]}))), 422,
            text("Line 1: enhancements[0].reference_id: {unknown} is not the id of its reference, {batch}")),
        row("JSONL: not UTF-8", Jsonl, "body bytes `\\xff` on line 1", c.import(b"\xff\n".to_vec()), 422,
            text_prefix("Body is not valid UTF-8: ")),
        row("JSONL: 1000-deep nesting", Jsonl, "line 1 is `[[[[…]]]]` nested 1000 deep",
            c.import(format!("{}{}\n", "[".repeat(1000), "]".repeat(1000))), 422,
            text_prefix("Line 1: recursion limit exceeded")),
        row("JSONL: nothing", Jsonl, "only blank lines", c.import("\n \n"), 422, text("The body holds no references.")),
        row("JSONL: existing id on line 2", Jsonl, "line 2 reuses `{ref-1}`",
            c.import(format!("{}\n{}\n", json!({"id": UNKNOWN, "identifiers": []}),
                json!({"id": c.references[0], "identifiers": []}))), 409,
            text("Reference {ref-1} already exists.")),
        row("JSONL: NUL in an enhancement source", Jsonl, "line 1's enhancement has `\"source\": \"s\\u0000\"` (NUL in its content would be kept)",
            c.import(format!("{}\n", json!({"enhancements": [
                {"source": "s\u{0}", "visibility": "public",
                 "content": {"enhancement_type": "abstract", "process": "other", "abstract": "A\u{0}."}}]}))), 422,
            text("Line 1: enhancements[0].source: String should not contain the NUL character (U+0000)")),
        row("JSONL: NUL in a robot_version", Jsonl, "line 2's enhancement has `\"robot_version\": \"\\u0000\"`",
            c.import(format!("{}\n{}\n", reference_line(1), json!({"enhancements": [
                {"source": "s", "visibility": "public", "robot_version": "\u{0}",
                 "content": {"enhancement_type": "abstract", "process": "other", "abstract": "A."}}]}))), 422,
            text("Line 2: enhancements[0].robot_version: String should not contain the NUL character (U+0000)")),
        row("JSONL: same id twice", Jsonl, "lines 1 and 2 carry the same new id",
            c.import(format!("{}\n{}\n", json!({"id": UNKNOWN, "identifiers": []}),
                json!({"id": UNKNOWN, "identifiers": []}))), 409,
            text("Reference {unknown} already exists.")),
    ];
    rows.extend(blob_rows(c));
    rows.extend(path_rows(c));
    rows.extend(size_and_stall_rows(c));
    rows
}

fn blob_rows(c: &Ctx) -> Vec<Row> {
    use Category::*;
    let read = c.read_url.clone();
    let write = c.write_url.clone();
    let sig = Ctx::param(&read, "sig");
    let flipped = format!(
        "{}{}",
        &sig[..sig.len() - 1],
        if sig.ends_with('0') { '1' } else { '0' }
    );
    let se: i64 = Ctx::param(&read, "se").parse().expect("se");
    let put = |url: &str| {
        req("PUT", url.to_owned())
            .header("x-ms-blob-type", "BlockBlob")
            .body("{}\n")
    };
    let other_key_path = c
        .other_write_url
        .split_once('?')
        .expect("signed")
        .0
        .to_owned();
    let mut expired = row(
        "expired URL",
        BlobUrl,
        "the reference file URL, server clock moved 3601 s ahead",
        req("GET", read.clone()),
        403,
        text("URL has expired."),
    );
    expired.around = Around::ClockAhead(Duration::from_secs(3601));
    vec![
        row(
            "tampered signature",
            BlobUrl,
            "reference file URL, last `sig` digit changed",
            req("GET", Ctx::with_param(&read, "sig", &flipped)),
            403,
            text("Signature is invalid."),
        ),
        row(
            "tampered expiry",
            BlobUrl,
            "reference file URL, `se` one hour later",
            req(
                "GET",
                Ctx::with_param(&read, "se", &(se + 3600).to_string()),
            ),
            403,
            text("Signature is invalid."),
        ),
        row(
            "tampered permission",
            BlobUrl,
            "reference file URL, `sp=w`, then PUT",
            put(&Ctx::with_param(&read, "sp", "w")),
            403,
            text("Signature is invalid."),
        ),
        expired,
        row(
            "read URL used to PUT",
            BlobUrl,
            "PUT to the reference file URL",
            put(&read),
            403,
            text("URL does not grant write permission."),
        ),
        row(
            "write URL used to GET",
            BlobUrl,
            "GET the result file URL",
            req("GET", write.clone()),
            403,
            text("URL does not grant read permission."),
        ),
        row(
            "URL for another key",
            BlobUrl,
            "`{other-batch}`'s result path with `{batch}`'s signed query",
            put(&format!("{other_key_path}?{}", Ctx::query_of(&write))),
            403,
            text("Signature is invalid."),
        ),
        row(
            "no signature",
            BlobUrl,
            "reference file URL without `sig`",
            req("GET", read.split("&sig=").next().expect("url").to_owned()),
            403,
            text("URL is missing the 'sig' parameter; use the signed URL as given."),
        ),
        row(
            "no query",
            BlobUrl,
            "reference file path without a query",
            req("GET", read.split('?').next().expect("url").to_owned()),
            403,
            text("URL is missing the 'sp' parameter; use the signed URL as given."),
        ),
        row(
            "expiry not a number",
            BlobUrl,
            "`se=tomorrow`",
            req("GET", Ctx::with_param(&read, "se", "tomorrow")),
            403,
            text("URL expiry 'se' is not a Unix timestamp."),
        ),
        row(
            "no x-ms-blob-type",
            BlobUrl,
            "PUT to the result URL without `x-ms-blob-type`",
            req("PUT", write.clone()).body("{}\n"),
            400,
            text("x-ms-blob-type header must be BlockBlob."),
        ),
        row(
            "x-ms-blob-type AppendBlob",
            BlobUrl,
            "PUT with `x-ms-blob-type: AppendBlob`",
            req("PUT", write.clone())
                .header("x-ms-blob-type", "AppendBlob")
                .body("{}\n"),
            400,
            text("x-ms-blob-type header must be BlockBlob."),
        ),
    ]
}

fn path_rows(c: &Ctx) -> Vec<Row> {
    use Category::*;
    let q = Ctx::query_of(&c.read_url).to_owned();
    let blob = |path: &str| req("GET", format!("{path}?{q}"));
    let dot_segments = || text("Invalid blob key: blob key may not contain '.' or '..' segments.");
    let absolute =
        || text("Invalid blob key: blob key must be a relative path, not start with '/'.");
    vec![
        row("traversal `..`", Path, "`..` segment, with a valid signed query", blob("/blobs/../secret.txt"), 400, dot_segments()),
        row("traversal `%2e%2e`", Path, "percent-encoded `..`", blob("/blobs/%2e%2e/secret.txt"), 400, dot_segments()),
        row("traversal deep", Path, "two encoded `..` after a segment", blob("/blobs/a/%2e%2e/%2e%2e/secret.txt"), 400, dot_segments()),
        row("encoded slash", Path, "encoded `/` around `..`", blob("/blobs/%2F..%2Fsecret.txt"), 400, absolute()),
        row("absolute path", Path, "an absolute path after `/blobs/`", blob("/blobs//etc/passwd"), 400, absolute()),
        row("backslash", Path, "encoded backslash (Windows separator)", blob("/blobs/..%5Csecret.txt"), 400,
            text("Invalid blob key: blob key may only contain A-Z, a-z, 0-9, '.', '_', '-' and '/', found '\\\\'.")),
        row("NUL byte", Path, "encoded NUL byte", blob("/blobs/a%00b"), 400,
            text("Invalid blob key: blob key may only contain A-Z, a-z, 0-9, '.', '_', '-' and '/', found '\\0'.")),
        row("signing key file", Path, "the server's URL signing key file", blob("/blobs/.signing-key"), 400,
            text("Invalid blob key: blob key segment \".signing-key\" may not start with '.'.")),
        row("blob path not UTF-8", Path, "key not UTF-8 once decoded", blob("/blobs/%ff"), 400, text("Invalid blob path.")),
        row("no blob key", Path, "empty key", blob("/blobs/"), 404, text("Not Found")),
        row("unknown route", Path, "no such route", req("GET", "/v1/nothing-here/"), 404, text("Not Found")),
        row("no trailing slash", Path, "trailing `/` missing (FastAPI would redirect), signed",
            req("POST", "/v1/robot-enhancement-batches").signed(c), 404, text("Not Found")),
        row("wrong method (admin)", Path, "`DELETE` on a GET/POST route, admin token", req("DELETE", "/v1/robots/").admin(c), 405,
            text("Method Not Allowed")),
        row("wrong method (robot)", Path, "`GET` on the poll route (POST only), signed",
            req("GET", c.poll_path()).signed(c), 405, text("Method Not Allowed")),
        row("wrong method (blob)", Path, "`DELETE` a result file URL", req("DELETE", c.write_url.clone()), 405,
            text("Method Not Allowed")),
        row("batch id not a UUID", Path, "batch id `not-a-uuid`, signed",
            req("GET", "/v1/robot-enhancement-batches/not-a-uuid/").signed(c), 422,
            list_prefix("path.id", "Input should be a valid UUID, ")),
        row("path id not UTF-8", Path, "robot id `%ff`, admin token", req("GET", "/v1/robots/%ff/").admin(c), 422,
            list("path.id", "Input should be a valid UUID, the segment is not valid UTF-8")),
        row("unknown batch", Path, "a batch id no batch has, signed",
            req("GET", format!("/v1/robot-enhancement-batches/{UNKNOWN}/")).signed(c), 404,
            text("RobotEnhancementBatch with id {unknown} does not exist.")),
        row("another robot's batch", Path, "`{other-batch}` leased to `{other-robot}`, signed by `{robot}`",
            req("GET", format!("/v1/robot-enhancement-batches/{}/", c.other_batch)).signed(c), 403,
            text("RobotEnhancementBatch {other-batch} belongs to another robot.")),
        row("renew another robot's batch", Path, "renewal of `{other-robot}`'s batch, signed by `{robot}`",
            req("PATCH", format!("/v1/robot-enhancement-batches/{}/renew-lease/", c.other_batch)).signed(c), 403,
            text("RobotEnhancementBatch {other-batch} belongs to another robot.")),
    ]
}

fn size_and_stall_rows(c: &Ctx) -> Vec<Row> {
    use Category::*;
    let big = |n: usize| {
        let line = reference_line(1);
        let mut body = String::new();
        while body.len() <= n {
            body.push_str(&line);
            body.push('\n');
        }
        body
    };
    let too_large = text(format!("Request body too large (limit {MAX_BODY} bytes)."));
    let blob_too_large = text(format!(
        "Blob is larger than the limit of {MAX_UPLOAD} bytes."
    ));
    let idle = IDLE.as_secs();
    vec![
        row(
            "JSON body over the limit",
            Size,
            "64 KiB + 1 with `Content-Length`, admin token",
            c.import(big(MAX_BODY)),
            413,
            too_large.clone(),
        ),
        row(
            "chunked JSON body over the limit",
            Size,
            "64 KiB + 1, chunked (no length), admin token",
            c.import(big(MAX_BODY)).sending(Sending::Chunked),
            413,
            too_large.clone(),
        ),
        row(
            "signed body over the limit",
            Size,
            "64 KiB + 1, signed",
            c.submit(big(MAX_BODY)),
            413,
            too_large.clone(),
        ),
        row(
            "unsigned body over the limit",
            Size,
            "64 KiB + 1, no signature",
            req("POST", c.results_path()).body(big(MAX_BODY)),
            413,
            too_large,
        ),
        row(
            "declared length over the limit",
            Size,
            "`Content-Length: 10 GB` declared, nothing sent",
            c.import("").header("content-length", "10000000000"),
            413,
            text(format!("Request body too large (limit {MAX_BODY} bytes).")),
        ),
        row(
            "blob over the limit",
            Size,
            "PUT of 64 KiB + 1 to the result URL",
            req("PUT", c.write_url.clone())
                .header("x-ms-blob-type", "BlockBlob")
                .body(big(MAX_UPLOAD as usize)),
            413,
            blob_too_large.clone(),
        ),
        row(
            "chunked blob over the limit",
            Size,
            "PUT, chunked, no length, 64 KiB + 1",
            req("PUT", c.write_url.clone())
                .header("x-ms-blob-type", "BlockBlob")
                .body(big(MAX_UPLOAD as usize))
                .sending(Sending::Chunked),
            413,
            blob_too_large,
        ),
        row(
            "stalled blob upload",
            Stall,
            "declares 100 bytes, sends 10, then nothing",
            req("PUT", c.write_url.clone())
                .header("x-ms-blob-type", "BlockBlob")
                .body("0123456789")
                .sending(Sending::Stall { declared: 100 }),
            408,
            text(format!("Upload stalled: no data received for {idle} s.")),
        ),
        row(
            "stalled JSON body (admin)",
            Stall,
            "declares 100 bytes, sends 10, then nothing, admin token",
            c.import("{\"identif")
                .sending(Sending::Stall { declared: 100 }),
            408,
            text(format!(
                "Request body stalled: no data received for {idle} s."
            )),
        ),
        row(
            "stalled JSON body (robot)",
            Stall,
            "declares 100 bytes, sends 10, then nothing, signed",
            c.submit("{\"request_")
                .sending(Sending::Stall { declared: 100 }),
            408,
            text(format!(
                "Request body stalled: no data received for {idle} s."
            )),
        ),
        row(
            "body cut short (JSON)",
            Stall,
            "declares 100 bytes, sends 10, then closes its side",
            c.import("{\"identif")
                .sending(Sending::CutShort { declared: 100 }),
            400,
            text("Failed to read request body."),
        ),
        row(
            "body cut short (blob)",
            Stall,
            "declares 100 bytes, sends 10, then closes its side",
            req("PUT", c.write_url.clone())
                .header("x-ms-blob-type", "BlockBlob")
                .body("0123456789")
                .sending(Sending::CutShort { declared: 100 }),
            400,
            text_prefix("Upload was interrupted: "),
        ),
        row(
            "broken chunked framing",
            Body,
            "chunked, chunk size `zz`",
            c.import("zz\r\nhello\r\n0\r\n\r\n")
                .sending(Sending::RawChunked),
            400,
            text("Failed to read request body."),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Rendering and the document.

/// A table cell holding `text` as code (a double-backtick span when it holds one).
fn cell(text: &str) -> String {
    let text = text.replace('|', "\\|").replace('\n', " ");
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

/// The prose above the table.
const INTRO: &str = "\
## Bad input

Every row below is a malformed request that `crates/destiny-repository/tests/bad_input_table.rs` \
sends, byte for byte over TCP, to a real `destiny serve` (in process, port 0), on SQLite and on \
PostgreSQL. For each row it asserts the status, the `detail`, that the status is a 4xx (never a \
5xx), that the body is JSON `{\"detail\": ...}` and that the server still answers its health \
check; after the last row, that nothing in the database or the blob directory changed (refused \
imports keep nothing: all or nothing), that no panic happened and that nothing was logged at \
ERROR. The test renders this section and fails when the file differs; \
`UPDATE_DOCS=1 cargo nextest run -p destiny-repository bad_input_table` rewrites it.

Settings of the test server: JSON body limit 64 KiB (`max_body_bytes`, default 64 MiB), upload \
limit 64 KiB (`max_upload_bytes`, default 256 MiB), body idle timeout 1 s \
(`body_idle_timeout`, default 60 s), HMAC timestamps checked against the server's injected \
clock (`SignatureClock::Server`).

Reading the detail column: text is the `detail` string exactly; `[loc] msg` is the first entry \
of FastAPI's list detail (`{\"detail\": [{\"loc\": [...], \"msg\": ...}]}`), loc joined with \
`.`; a trailing `…` marks a prefix (the rest is library wording: serde, uuid, jiff); `{robot}`, \
`{other-robot}`, `{batch}`, `{other-batch}` and `{ref-1}` stand for ids made by the test, \
`{unknown}` for `00000000-0000-4000-8000-000000000001`, an id no record has, and `…` in a blob \
URL for the value of `se` or `sig`.
";

/// The notes below the table.
const NOTES: &str = "\
Behaviour worth knowing:

- Request bodies of the JSON API (robot and admin routes) are read once, before routing and \
  before the HMAC check, under the size limit (413) and the idle timeout (408), so an \
  unauthenticated client gets the same answers and cannot hold a connection with a stalled \
  body. Blob uploads stream to disk under their own limit and the same idle timeout.
- Duplicate headers: the first value counts (Starlette's `headers.get`). Query parameters \
  given twice: the last counts.
- Two rows have no JSON body: hyper refuses them before any route runs (431 for a header \
  section beyond its ~400 KiB buffer, 400 for conflicting `Content-Length` headers).
- A client that stalls while sending its request *headers* is disconnected without an \
  answer after `--header-read-timeout` (30 s by default; see `tests/bad_input.rs`).
- Robot bodies ignore unknown fields (pydantic's default); `RobotIn` refuses them \
  (`extra=\"forbid\"`). Deep nesting in an ignored field is skipped without recursion; \
  where a value is parsed (reference lines), serde_json's recursion limit (127 levels, \
  `jsonl::MAX_DEPTH`) answers 422.
- Result-file lines are judged one by one (`ResultFileCheck`, shared by the import and \
  `destiny results check`), not by this table (they reach the database): a line that is \
  not valid UTF-8 is refused with `Entry N could not be parsed: the line is not valid \
  UTF-8 (invalid byte at offset K)`, never decoded with U+FFFD; a line nested deeper than \
  125 levels (`MAX_RESULT_DEPTH`) is refused, because its enhancement sits two levels \
  deeper in the next reference file and every reader must still reach the bottom (the \
  Python SDKs 0.7.4 and 0.17.6 read such a deepest line too: `destiny-sdk` test \
  `peer_depth`). Both backends: \
  `robot_flow::deep_and_undecodable_lines_are_refused_and_what_is_kept_stays_readable`.
- Numbers in free-form JSON (`data`, `metadata`, `extra`, queries) are kept as Python \
  keeps them: integers of any size exactly (`18446744073709551617` stays so), floats in \
  their shortest form (`1e5` → `100000.0`), through import, storage, reference files and \
  the API (serde_json's `arbitrary_precision`).
- HMAC signatures carry no nonce: a captured request replays within the ±300 s window \
  (see `tests/security.rs`); outside it, 401.
";

fn render(rows: &[Row], placeholders: &[(String, &'static str)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{INTRO}");
    let _ = writeln!(
        out,
        "| # | name | category | request | what is wrong | status | detail |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            r.name.replace('|', "\\|"),
            r.category.as_str(),
            cell(&r.req.line(placeholders)),
            r.wrong.replace('|', "\\|"),
            r.status,
            match r.detail {
                Detail::NoBody(_) => format!("*{}*", r.detail.render()),
                _ => cell(&r.detail.render()),
            },
        );
    }
    let _ = write!(out, "\n{NOTES}");
    out
}

fn doc_path() -> PathBuf {
    common::workspace_root().join("docs/reliability.md")
}

/// The text between the markers.
fn region(doc: &str) -> Option<&str> {
    let start = doc.find(START)? + START.len();
    let end = doc[start..].find(END)? + start;
    Some(&doc[start..end])
}

fn write_region(table: &str) {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Reliability\n\nHow the local repository behaves under bad input, faults and load. \
         Every claim here is checked by a test that can fail.\n"
            .to_owned()
    });
    let body = format!("\n{table}");
    let updated = match region(&doc) {
        Some(old) => doc.replacen(
            &format!("{START}{old}{END}"),
            &format!("{START}{body}{END}"),
            1,
        ),
        None => format!("{}\n\n{START}{body}{END}\n", doc.trim_end()),
    };
    let temp = path.with_extension("md.tmp");
    std::fs::write(&temp, updated).expect("write the document");
    std::fs::rename(&temp, &path).expect("replace the document");
}

// ---------------------------------------------------------------------------------------
// Panics and logs.

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Everything logged in this process, at DEBUG and above; panics are counted from the
/// first call on.
fn capture() -> Arc<Mutex<Vec<u8>>> {
    static HOOKED: Once = Once::new();
    HOOKED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    common::capture_logs(tracing::Level::DEBUG).0
}

// ---------------------------------------------------------------------------------------
// The database and the blob directory must not change.

async fn snapshot(c: &Ctx) -> Vec<String> {
    let pool = c.s.db.pool().await;
    let mut out = Vec::new();
    for table in [
        "robots",
        "refs",
        "enhancements",
        "enhancement_requests",
        "batches",
    ] {
        let n: i64 = sql::scalar(&pool, &format!("SELECT COUNT(*) FROM {table}"), &[]).await;
        out.push(format!("{table}: {n}"));
    }
    let pending = "SELECT id, status, expires_at FROM pending_enhancements ORDER BY id";
    for r in sql::rows(&pool, pending, &[]).await {
        let id: String = r.get(0);
        let status: String = r.get(1);
        let expires: Option<i64> = r.get(2);
        out.push(format!("pending {id}: {status} {expires:?}"));
    }
    let secrets = "SELECT id, client_secret FROM robots ORDER BY id";
    for r in sql::rows(&pool, secrets, &[]).await {
        let id: String = r.get(0);
        let secret: String = r.get(1);
        out.push(format!(
            "robot {id}: secret of {} chars, {}",
            secret.len(),
            secret == c.robot.client_secret.as_str() || secret == c.other.client_secret.as_str()
        ));
    }
    pool.close().await;
    let root =
        c.s.state
            .blobs
            .store()
            .root()
            .expect("a file:// store")
            .to_path_buf();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("blob dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path.clone());
            } else {
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                out.push(format!(
                    "file {}: {len}",
                    path.strip_prefix(&root).expect("under root").display()
                ));
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// The test.

async fn healthy(c: &Ctx) -> bool {
    send(c.addr, &req("GET", "/v1/system/healthcheck/"))
        .await
        .status
        == 200
}

async fn bad_input_table(backend: Backend) {
    let logs = capture();
    let c = Ctx::new(backend).await;
    let before = snapshot(&c).await;
    let placeholders = c.placeholders();
    let rows = rows(&c);
    assert!(rows.len() >= 60, "only {} rows", rows.len());
    let mut failures = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let restore = c.s.clock.now();
        if let Around::ClockAhead(by) = r.around {
            c.s.clock.advance(by);
        }
        let resp = send(c.addr, &r.req).await;
        c.s.clock.set(restore);
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        let mut normalised = text.clone();
        for (value, name) in &placeholders {
            normalised = normalised.replace(value.as_str(), name);
        }
        let json_type = resp
            .headers
            .iter()
            .any(|(n, v)| n == "content-type" && v.starts_with("application/json"));
        let body: Value = serde_json::from_str(&normalised).unwrap_or(Value::Null);
        let mut problems = Vec::new();
        if resp.status != r.status {
            problems.push(format!("status {} (expected {})", resp.status, r.status));
        }
        if !(400..500).contains(&resp.status) {
            problems.push(format!("status {} is not a 4xx", resp.status));
        }
        let no_body = matches!(r.detail, Detail::NoBody(_)) && resp.body.is_empty();
        if !no_body && (!json_type || !body.is_object()) {
            problems.push("the body is not JSON".to_owned());
        }
        if !r.detail.matches(&body["detail"]) {
            problems.push(format!("detail differs (expected {})", r.detail.render()));
        }
        if !healthy(&c).await {
            problems.push("the health check failed afterwards".to_owned());
        }
        if std::env::var("TABLE_SHOW").is_ok() {
            eprintln!("row {} {:?}: {} {normalised}", i + 1, r.name, resp.status);
        }
        if !problems.is_empty() {
            let shown: String = normalised.chars().take(400).collect();
            failures.push(format!(
                "row {} {:?}: {}\n    got {} {shown}",
                i + 1,
                r.name,
                problems.join("; "),
                resp.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );

    assert_eq!(
        snapshot(&c).await,
        before,
        "a refused request changed the database or the blob directory"
    );
    assert!(healthy(&c).await);
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic happened");
    let logged =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let errors: Vec<&str> = logged.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(
        errors.is_empty(),
        "errors were logged:\n{}",
        errors.join("\n")
    );

    let table = render(&rows, &placeholders);
    if std::env::var("UPDATE_DOCS").is_ok_and(|v| v == "1") {
        if backend == Backend::Sqlite {
            write_region(&table);
        }
        return;
    }
    let doc = std::fs::read_to_string(doc_path()).unwrap_or_default();
    let documented = region(&doc).unwrap_or_else(|| {
        panic!(
            "docs/reliability.md has no {START} … {END} region: run \
             UPDATE_DOCS=1 cargo nextest run -p destiny-repository bad_input_table"
        )
    });
    if documented.trim() != table.trim() {
        let (want, have): (Vec<&str>, Vec<&str>) = (
            table.trim().lines().collect(),
            documented.trim().lines().collect(),
        );
        let at = (0..want.len().max(have.len()))
            .find(|&i| want.get(i) != have.get(i))
            .unwrap_or(0);
        panic!(
            "docs/reliability.md is out of date (first difference at line {} of the region):\n\
             rendered: {}\ndocument: {}\nrun UPDATE_DOCS=1 cargo nextest run -p \
             destiny-repository bad_input_table",
            at + 1,
            want.get(at).unwrap_or(&"(nothing)"),
            have.get(at).unwrap_or(&"(nothing)"),
        );
    }
}
