//! Checking a batch's result file line by line, with the rules and texts the repository
//! applies when it imports one (spec §4).
//!
//! [`ResultFileCheck`] is pure (no I/O, no database): the local repository imports with
//! it, the fuzzer tests it, and a robot can run it over its own file before uploading.
//! What it cannot know is left to the caller: whether an enhancement is an exact
//! duplicate of one already stored ([`texts::EXACT_DUPLICATE`]).
//!
//! ```
//! use destiny_sdk::result_file::{Outcome, ResultFileCheck, texts};
//! use uuid::Uuid;
//!
//! let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
//! let mut check = ResultFileCheck::new([a, b]);
//! let line = format!(r#"{{"reference_id": "{a}", "message": "timeout"}}"#);
//! let validation = check.check_line(&line).unwrap();
//! assert_eq!(validation.error.as_deref(), Some("timeout"));
//! assert!(check.check_line("   \n").is_none()); // blank lines are skipped
//!
//! let done = check.finish();
//! assert_eq!(done.missing.len(), 1); // b has no line
//! assert_eq!(done.missing[0].error.as_deref(), Some(texts::MISSING));
//! assert!(done.outcomes.iter().all(|(_, o)| matches!(o, Outcome::Fail)));
//! ```

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::jsonl;
use crate::models::{
    Enhancement, EnhancementContent, EnhancementResultEntry, RobotEntitlement,
    RobotResultValidationEntry,
};

/// The validation file's texts (spec §4), as the repository writes them.
pub mod texts {
    /// A reference that is not part of the batch.
    pub const NOT_IN_BATCH: &str = "Reference not in batch enhancement request.";
    /// A second line for the same reference.
    pub const DUPLICATE_REFERENCE: &str = "Duplicate reference ID in enhancement result.";
    /// A `raw` enhancement from a robot without the `raw_enhancement_writer` entitlement
    /// (the repository's text since it has entitlements).
    pub const RAW: &str = "Robot is not entitled to return raw enhancements.";
    /// An enhancement with `supersedes` from a robot without the
    /// `enhancement_supersession_writer` entitlement. (The repository's own text is not in
    /// a published source; this one is the toolkit's, worded as [`RAW`].)
    pub const SUPERSEDES: &str = "Robot is not entitled to supersede enhancements.";
    /// A `tombstone` that supersedes nothing: it must head a chain.
    pub const LONE_TOMBSTONE: &str = "A tombstone enhancement must supersede an enhancement.";
    /// An enhancement identical to one the reference has (decided by the repository,
    /// which knows the stored enhancements).
    pub const EXACT_DUPLICATE: &str = "Exact duplicate enhancement already exists on reference.";
    /// A reference of the batch with no line in the result file.
    pub const MISSING: &str = "Requested reference not in enhancement result.";
}

/// How deep a result line may nest: a reference file holds each enhancement two levels
/// deeper (the reference object, its `enhancements` list), and every reader of reference
/// files must still reach the bottom ([`jsonl::MAX_DEPTH`]).
pub const MAX_RESULT_DEPTH: usize = jsonl::MAX_DEPTH - 2;

/// What becomes of one reference of the batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Store this enhancement (its `id` cleared: the repository assigns one).
    Enhance(Box<Enhancement>),
    /// The reference failed: a `LinkedRobotError`, a refused line, or no line at all.
    Fail,
}

/// The checks of one result file against its batch.
#[derive(Debug, Clone)]
pub struct ResultFileCheck {
    /// The batch's references, in the order given.
    batch: Vec<Uuid>,
    /// The same, for lookups.
    in_batch: HashSet<Uuid>,
    /// References that had a line (accepted or not).
    seen: HashSet<Uuid>,
    /// Decisions so far.
    decided: HashMap<Uuid, Outcome>,
    /// Non-blank lines so far.
    entries: usize,
    /// Lines that decided nothing (unparsable, unknown type, outside the batch, repeated).
    refused: usize,
    /// The robot may return `raw` enhancements (`raw_enhancement_writer`).
    may_write_raw: bool,
    /// The robot may set `supersedes` (`enhancement_supersession_writer`).
    may_supersede: bool,
}

/// The end of a check: lines for references without one, and every reference's outcome.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckedFile {
    /// A [`texts::MISSING`] validation line per batch reference the file did not mention,
    /// in batch order.
    pub missing: Vec<RobotResultValidationEntry>,
    /// Every batch reference with its outcome, in batch order (no line: [`Outcome::Fail`]).
    pub outcomes: Vec<(Uuid, Outcome)>,
}

impl ResultFileCheck {
    /// A check for a batch of these references (their order is kept for
    /// [`finish`](Self::finish)), returned by a robot without entitlements.
    pub fn new(batch: impl IntoIterator<Item = Uuid>) -> Self {
        let batch: Vec<Uuid> = batch.into_iter().collect();
        Self {
            in_batch: batch.iter().copied().collect(),
            seen: HashSet::with_capacity(batch.len()),
            decided: HashMap::with_capacity(batch.len()),
            entries: 0,
            refused: 0,
            batch,
            may_write_raw: false,
            may_supersede: false,
        }
    }

    /// The same check for a robot holding `entitlements`: `raw_enhancement_writer` lets
    /// `raw` enhancements through, `enhancement_supersession_writer` lets `supersedes`
    /// (and a tombstone that supersedes) through. Whether the superseded enhancement may
    /// be superseded is the repository's to decide: it knows the stored ones.
    ///
    /// ```
    /// use destiny_sdk::models::RobotEntitlement;
    /// use destiny_sdk::result_file::{texts, ResultFileCheck};
    /// use uuid::Uuid;
    ///
    /// let reference = Uuid::new_v4();
    /// let raw = format!(
    ///     r#"{{"reference_id": "{reference}", "source": "s", "visibility": "public",
    ///         "content": {{"enhancement_type": "raw", "source_export_date": "2024-01-01T00:00:00Z",
    ///         "description": "d", "metadata": {{}}, "data": {{"x": 1}}}}}}"#
    /// ).replace('\n', " ");
    /// let refused = ResultFileCheck::new([reference]).check_line(&raw).unwrap();
    /// assert_eq!(refused.error.as_deref(), Some(texts::RAW));
    /// let entitled = ResultFileCheck::new([reference])
    ///     .with_entitlements([RobotEntitlement::RawEnhancementWriter])
    ///     .check_line(&raw)
    ///     .unwrap();
    /// assert_eq!(entitled.error, None);
    /// ```
    pub fn with_entitlements(
        mut self,
        entitlements: impl IntoIterator<Item = RobotEntitlement>,
    ) -> Self {
        for entitlement in entitlements {
            match entitlement {
                RobotEntitlement::RawEnhancementWriter => self.may_write_raw = true,
                RobotEntitlement::EnhancementSupersessionWriter => self.may_supersede = true,
                RobotEntitlement::FullText => {}
            }
        }
        self
    }

    /// [`check_line`](Self::check_line) for a line as bytes, as read from the file: a line
    /// that is not valid UTF-8 is refused (`Entry N could not be parsed: the line is not
    /// valid UTF-8 …`), never decoded lossily, so nothing is stored altered.
    pub fn check_bytes(&mut self, bytes: &[u8]) -> Option<RobotResultValidationEntry> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.check_line(text),
            Err(e) => {
                if bytes.trim_ascii().is_empty() {
                    return None;
                }
                self.entries += 1;
                self.refused += 1;
                Some(RobotResultValidationEntry {
                    reference_id: None,
                    error: Some(format!(
                        "Entry {} could not be parsed: the line is not valid UTF-8 \
                         (invalid byte at offset {})",
                        self.entries,
                        e.valid_up_to()
                    )),
                })
            }
        }
    }

    /// Checks the next line of the file (a trailing `\n` or `\r\n` is ignored) and returns
    /// its validation line; `None` for a blank line, which is skipped and not counted.
    ///
    /// In order: a line that does not parse, or an enhancement of a type this SDK does not
    /// know, gets `Entry N could not be parsed: …` and no reference id; then a reference
    /// outside the batch, and a second line for a reference, are refused; a
    /// `LinkedRobotError` fails its reference with its message; without the entitlement
    /// for it, a `raw` enhancement fails it with [`texts::RAW`] and one with `supersedes`
    /// with [`texts::SUPERSEDES`]; a tombstone that supersedes nothing fails it with
    /// [`texts::LONE_TOMBSTONE`]; any other enhancement is accepted (no error).
    pub fn check_line(&mut self, text: &str) -> Option<RobotResultValidationEntry> {
        if text.trim().is_empty() {
            return None;
        }
        self.entries += 1;
        let entry_no = self.entries;
        let fail = |reference_id: Option<Uuid>, error: String| RobotResultValidationEntry {
            reference_id,
            error: Some(error),
        };
        let entry = match self.admit(text, entry_no) {
            Ok(entry) => entry,
            Err(refused) => {
                self.refused += 1;
                return Some(refused);
            }
        };
        let reference_id = entry.reference_id();
        Some(match entry {
            EnhancementResultEntry::Error(err) => {
                self.decided.insert(reference_id, Outcome::Fail);
                fail(Some(reference_id), err.message)
            }
            EnhancementResultEntry::Enhancement(e)
                if !self.may_write_raw && matches!(e.content, EnhancementContent::Raw(_)) =>
            {
                self.decided.insert(reference_id, Outcome::Fail);
                fail(Some(reference_id), texts::RAW.to_owned())
            }
            EnhancementResultEntry::Enhancement(e)
                if !self.may_supersede && e.supersedes.is_some() =>
            {
                self.decided.insert(reference_id, Outcome::Fail);
                fail(Some(reference_id), texts::SUPERSEDES.to_owned())
            }
            EnhancementResultEntry::Enhancement(e)
                if e.supersedes.is_none()
                    && matches!(e.content, EnhancementContent::Tombstone(_)) =>
            {
                self.decided.insert(reference_id, Outcome::Fail);
                fail(Some(reference_id), texts::LONE_TOMBSTONE.to_owned())
            }
            EnhancementResultEntry::Enhancement(mut e) => {
                e.id = None;
                self.decided.insert(reference_id, Outcome::Enhance(e));
                RobotResultValidationEntry {
                    reference_id: Some(reference_id),
                    error: None,
                }
            }
        })
    }

    /// Parses a line and admits it for a decision, or refuses it with its validation line.
    fn admit(
        &mut self,
        text: &str,
        entry_no: usize,
    ) -> Result<EnhancementResultEntry, RobotResultValidationEntry> {
        let refuse = |reference_id: Option<Uuid>, error: String| RobotResultValidationEntry {
            reference_id,
            error: Some(error),
        };
        let depth = jsonl::nesting_depth(text);
        if depth > MAX_RESULT_DEPTH {
            return Err(refuse(
                None,
                format!(
                    "Entry {entry_no} could not be parsed: it nests {depth} levels deep, more \
                     than the {MAX_RESULT_DEPTH} a result line may (a reference file nests \
                     an enhancement two levels deeper, and readers stop at {})",
                    jsonl::MAX_DEPTH
                ),
            ));
        }
        let entry: EnhancementResultEntry = jsonl::parse_line(text)
            .map_err(|e| refuse(None, format!("Entry {entry_no} could not be parsed: {e}")))?;
        if let EnhancementResultEntry::Enhancement(e) = &entry {
            if let EnhancementContent::Unknown(_) = e.content {
                let kind = e.content.enhancement_type();
                return Err(refuse(
                    None,
                    format!(
                        "Entry {entry_no} could not be parsed: content: unknown enhancement_type {kind:?}"
                    ),
                ));
            }
        }
        let reference_id = entry.reference_id();
        if !self.in_batch.contains(&reference_id) {
            return Err(refuse(Some(reference_id), texts::NOT_IN_BATCH.to_owned()));
        }
        if !self.seen.insert(reference_id) {
            return Err(refuse(
                Some(reference_id),
                texts::DUPLICATE_REFERENCE.to_owned(),
            ));
        }
        Ok(entry)
    }

    /// Non-blank lines checked so far.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Lines so far that decided nothing: unparsable, of an unknown enhancement type,
    /// about a reference outside the batch, or a second line for a reference.
    pub fn refused(&self) -> usize {
        self.refused
    }

    /// The decisions so far, by reference (references without a line yet are absent).
    pub fn decided(&self) -> &HashMap<Uuid, Outcome> {
        &self.decided
    }

    /// Ends the check.
    pub fn finish(mut self) -> CheckedFile {
        let missing = self
            .batch
            .iter()
            .filter(|id| !self.seen.contains(id))
            .map(|id| RobotResultValidationEntry {
                reference_id: Some(*id),
                error: Some(texts::MISSING.to_owned()),
            })
            .collect();
        let outcomes = self
            .batch
            .iter()
            .map(|id| (*id, self.decided.remove(id).unwrap_or(Outcome::Fail)))
            .collect();
        CheckedFile { missing, outcomes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enhancement(reference: Uuid, content: &str) -> String {
        format!(
            r#"{{"id": "{}", "reference_id": "{reference}", "source": "s", "visibility": "public", "content": {content}}}"#,
            Uuid::new_v4()
        )
    }

    #[test]
    fn undecodable_and_too_deep_lines_are_refused_by_entry_number() {
        let id = Uuid::new_v4();
        let mut check = ResultFileCheck::new([id]);
        assert_eq!(check.check_bytes(b"  \r\n"), None);
        let bad = check.check_bytes(b"{\"message\": \"\xff\"}\n").unwrap();
        assert_eq!(
            bad.error.as_deref(),
            Some("Entry 1 could not be parsed: the line is not valid UTF-8 (invalid byte at offset 13)")
        );
        let deep = format!(
            r#"{{"reference_id": "{id}", "message": "x", "m": {}{}}}"#,
            "[".repeat(MAX_RESULT_DEPTH),
            "]".repeat(MAX_RESULT_DEPTH)
        );
        let refused = check.check_bytes(deep.as_bytes()).unwrap();
        assert!(
            refused.error.as_deref().unwrap().starts_with(&format!(
                "Entry 2 could not be parsed: it nests {} levels deep",
                MAX_RESULT_DEPTH + 1
            )),
            "{refused:?}"
        );
        let ok = format!(r#"{{"reference_id": "{id}", "message": "x"}}"#);
        assert_eq!(
            check.check_bytes(ok.as_bytes()).unwrap().reference_id,
            Some(id)
        );
        assert_eq!((check.entries(), check.refused()), (3, 2));
    }

    #[test]
    fn every_rule_in_order_with_the_repository_texts() {
        let ids: Vec<Uuid> = (0..8).map(|_| Uuid::new_v4()).collect();
        let stranger = Uuid::new_v4();
        let abstract_ = r#"{"enhancement_type": "abstract", "process": "other", "abstract": "A."}"#;
        let mut check = ResultFileCheck::new(ids.iter().copied());
        let lines = [
            "not json\n".to_owned(),
            "\r\n".to_owned(),
            enhancement(ids[0], r#"{"enhancement_type": "graph_data"}"#),
            enhancement(stranger, abstract_),
            enhancement(ids[1], abstract_),
            enhancement(ids[1], abstract_),
            format!(r#"{{"reference_id": "{}", "message": "gave up"}}"#, ids[2]),
            enhancement(
                ids[3],
                r#"{"enhancement_type": "raw", "source_export_date": "2024-01-01T00:00:00Z", "description": "d", "metadata": {}, "data": {"x": 1}}"#,
            ),
            enhancement(ids[6], r#"{"enhancement_type": "tombstone"}"#),
            enhancement(ids[7], abstract_).replace(
                r#""source""#,
                &format!(r#""supersedes": "{}", "source""#, Uuid::new_v4()),
            ),
        ];
        let got: Vec<Option<RobotResultValidationEntry>> =
            lines.iter().map(|l| check.check_line(l)).collect();
        let want = |id: Option<Uuid>, error: Option<&str>| {
            Some(RobotResultValidationEntry {
                reference_id: id,
                error: error.map(str::to_owned),
            })
        };
        assert!(got[0]
            .as_ref()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .starts_with("Entry 1 could not be parsed: "));
        assert_eq!(got[1], None, "a blank line is skipped and not counted");
        assert_eq!(
            got[2],
            want(
                None,
                Some(
                    "Entry 2 could not be parsed: content: unknown enhancement_type \"graph_data\""
                )
            )
        );
        assert_eq!(got[3], want(Some(stranger), Some(texts::NOT_IN_BATCH)));
        assert_eq!(got[4], want(Some(ids[1]), None));
        assert_eq!(got[5], want(Some(ids[1]), Some(texts::DUPLICATE_REFERENCE)));
        assert_eq!(got[6], want(Some(ids[2]), Some("gave up")));
        assert_eq!(got[7], want(Some(ids[3]), Some(texts::RAW)));
        assert_eq!(got[8], want(Some(ids[6]), Some(texts::LONE_TOMBSTONE)));
        assert_eq!(got[9], want(Some(ids[7]), Some(texts::SUPERSEDES)));
        assert_eq!(check.entries(), 9);
        assert_eq!(check.refused(), 4);

        let done = check.finish();
        let missing: Vec<Option<Uuid>> = done.missing.iter().map(|m| m.reference_id).collect();
        assert_eq!(missing, vec![Some(ids[0]), Some(ids[4]), Some(ids[5])]);
        assert!(done
            .missing
            .iter()
            .all(|m| m.error.as_deref() == Some(texts::MISSING)));
        let order: Vec<Uuid> = done.outcomes.iter().map(|(id, _)| *id).collect();
        assert_eq!(order, ids);
        for (id, outcome) in &done.outcomes {
            match outcome {
                Outcome::Enhance(e) => {
                    assert_eq!(*id, ids[1]);
                    assert_eq!(e.id, None, "the repository assigns the id");
                }
                Outcome::Fail => assert_ne!(*id, ids[1]),
            }
        }
    }

    #[test]
    fn entitlements_let_raw_and_supersession_through() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let target = Uuid::new_v4();
        let raw = r#"{"enhancement_type": "raw", "source_export_date": "2024-01-01T00:00:00Z", "description": "d", "metadata": {}, "data": {"x": 1}}"#;
        let superseding = |id: Uuid, content: &str| {
            enhancement(id, content).replace(
                r#""source""#,
                &format!(r#""supersedes": "{target}", "source""#),
            )
        };
        let lines = [
            enhancement(ids[0], raw),
            superseding(
                ids[1],
                r#"{"enhancement_type": "abstract", "process": "other", "abstract": "A."}"#,
            ),
            superseding(
                ids[2],
                r#"{"enhancement_type": "tombstone", "reason": "retracted"}"#,
            ),
            enhancement(ids[3], r#"{"enhancement_type": "tombstone"}"#),
        ];
        let run = |check: ResultFileCheck| -> Vec<Option<String>> {
            let mut check = check;
            lines
                .iter()
                .map(|l| check.check_line(l).unwrap().error)
                .collect()
        };
        let lone = Some(texts::LONE_TOMBSTONE.to_owned());
        assert_eq!(
            run(ResultFileCheck::new(ids.clone())),
            vec![
                Some(texts::RAW.to_owned()),
                Some(texts::SUPERSEDES.to_owned()),
                Some(texts::SUPERSEDES.to_owned()),
                lone.clone()
            ]
        );
        assert_eq!(
            run(ResultFileCheck::new(ids.clone()).with_entitlements([
                RobotEntitlement::RawEnhancementWriter,
                RobotEntitlement::EnhancementSupersessionWriter,
            ])),
            vec![None, None, None, lone.clone()],
            "a tombstone must still head a chain"
        );
        assert_eq!(
            run(ResultFileCheck::new(ids.clone()).with_entitlements([RobotEntitlement::FullText])),
            vec![
                Some(texts::RAW.to_owned()),
                Some(texts::SUPERSEDES.to_owned()),
                Some(texts::SUPERSEDES.to_owned()),
                lone
            ],
            "full_text grants neither"
        );
    }
}
