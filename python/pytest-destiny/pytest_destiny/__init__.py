"""A pytest plugin: each test that asks for ``destiny_repository`` gets its own local
DESTINY repository, ``destiny serve`` on a free port with a temporary SQLite database.

The fixture yields a :class:`DestinyRepository` with the server's ``url`` and
``admin_token`` and the admin calls a robot's test needs (register a robot, import
references, request enhancements, wait for a request to finish). The server is stopped
when the test ends, passed or failed, and its log is attached to a failing test's report.

The ``destiny`` command comes from the ``destiny-rs`` wheel installed beside this one;
``--destiny-bin`` or ``DESTINY_BIN`` names another.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["DestinyRepository", "DestinyError", "FINISHED"]

#: Request statuses after which a request changes no more.
FINISHED = frozenset({"completed", "partial_failed", "failed", "rejected", "indexing_failed"})

_STARTUP_SECONDS = 30
_STOP_SECONDS = 10
_LISTENING = "destiny serve: listening on "


class DestinyError(Exception):
    """A call to the local repository answered an unexpected status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {body}")
        self.status = status
        self.body = body


class DestinyRepository:
    """A running ``destiny serve``: its ``url`` (no trailing slash), ``admin_token``, and
    the admin calls of a robot's test. Robots reach it at ``url + "/v1"`` (the base URL of
    the Python SDK's ``RobotClient``)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.admin_token = secrets.token_urlsafe(24)
        self.log_path = workdir / "destiny-serve.log"
        database = f"sqlite://{workdir / 'destiny.db'}"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed by stop)
        self._kept_log: str | None = None
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self._process = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--database", database,
             "--blob-dir", str(workdir / "blobs"),
             # One argument: a token may start with "-".
             f"--admin-token={self.admin_token}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        try:
            self.url = self._await_listening()
        except BaseException:
            self.stop()
            raise

    def _await_listening(self) -> str:
        """The server's base URL, from the first line it prints once it listens."""
        first: list[bytes] = []
        reader = threading.Thread(
            target=lambda: first.append(self._process.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(_STARTUP_SECONDS)
        line = first[0].decode().strip() if first else ""
        if not line.startswith(_LISTENING):
            status = self._process.poll()
            why = (f"exited with status {status}" if status is not None
                   else f"did not listen within {_STARTUP_SECONDS} s")
            raise RuntimeError(f"destiny serve {why}; its log:\n{self.log()}")
        # Keep reading so the server never writes into a full pipe.
        threading.Thread(target=self._process.stdout.read, daemon=True).start()
        return line.removeprefix(_LISTENING).rstrip("/")

    def log(self) -> str:
        """What the server logged so far (all of it once stopped)."""
        if self._kept_log is not None:
            return self._kept_log
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit.
        Safe to call more than once."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._kept_log is None:
            # Kept for a report made after the temporary directory is gone.
            self._kept_log = self.log()
            self._log.close()

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._process.pid

    # ---- admin calls -------------------------------------------------------------------

    def _call(self, method: str, path: str, body: bytes | None, expect: int) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self.admin_token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        if status != expect:
            raise DestinyError(method, path, status, text)
        return json.loads(text) if text else None

    def register_robot(self, name: str | None = None, entitlements: Iterable[str] = ()) -> dict:
        """Registers a robot; answers it as the repository does, with its ``id`` and
        ``client_secret``."""
        body: dict[str, Any] = {
            "name": name or f"robot-{uuid.uuid4().hex[:8]}",
            "description": "registered by pytest-destiny",
            "owner": "pytest",
        }
        entitlements = [str(getattr(e, "value", e)) for e in entitlements]
        if entitlements:
            body["entitlements"] = entitlements
        return self._call("POST", "/v1/robots/", json.dumps(body).encode(), 201)

    def import_references(self, refs: str | Iterable[Any]) -> list[str]:
        """Imports references, given as JSONL text or as an iterable of dicts or
        destiny-sdk models; answers their ids, in order."""
        if isinstance(refs, (str, bytes)):
            body = refs.encode() if isinstance(refs, str) else refs
        else:
            body = "".join(_json_line(r) + "\n" for r in refs).encode()
        return [str(i) for i in self._call("POST", "/v1/references/", body, 201)]

    def request_enhancements(
        self, robot_id: Any, reference_ids: Iterable[Any], source: str | None = None
    ) -> str:
        """Asks the robot to enhance the references; answers the request's id."""
        body: dict[str, Any] = {
            "robot_id": str(robot_id),
            "reference_ids": [str(r) for r in reference_ids],
        }
        if source is not None:
            body["source"] = source
        read = self._call("POST", "/v1/enhancement-requests/", json.dumps(body).encode(), 202)
        return str(read["id"])

    def get_request(self, request_id: Any) -> dict:
        """The request as the repository reads it now (``EnhancementRequestRead``)."""
        return self._call("GET", f"/v1/enhancement-requests/{request_id}/", None, 200)

    def wait_for_request(self, request_id: Any, timeout: float = 60) -> dict:
        """Waits until the request has finished (completed, partial_failed, failed,
        rejected or indexing_failed) and answers it; ``TimeoutError`` naming its status
        when it has not finished within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        pause = 0.02
        while True:
            read = self.get_request(request_id)
            if read["request_status"] in FINISHED:
                return read
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"enhancement request {request_id} is still {read['request_status']!r} "
                    f"after {timeout} s"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def _json_line(ref: Any) -> str:
    """One reference as a JSON line: a destiny-sdk model or a dict."""
    if hasattr(ref, "model_dump_json"):
        return ref.model_dump_json(exclude_none=True)
    return json.dumps(ref)


def _binary(config: pytest.Config) -> str:
    """The ``destiny`` command: the option, the variable, the one beside this Python, or
    the one on PATH."""
    named = config.getoption("destiny_bin") or os.environ.get("DESTINY_BIN")
    if named:
        return named
    beside = Path(sysconfig.get_path("scripts")) / "destiny"
    if beside.exists():
        return str(beside)
    found = shutil.which("destiny")
    if found is None:
        raise pytest.UsageError(
            "pytest-destiny: no `destiny` command; install the destiny-rs wheel, "
            "or pass --destiny-bin / set DESTINY_BIN"
        )
    return found


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("destiny")
    group.addoption(
        "--destiny-bin",
        dest="destiny_bin",
        default=None,
        help="the destiny command run by the destiny_repository fixture "
        "(default: DESTINY_BIN, then the one installed beside pytest, then PATH)",
    )


@pytest.fixture
def destiny_repository(request: pytest.FixtureRequest):
    """A local DESTINY repository for this test, stopped when the test ends."""
    with tempfile.TemporaryDirectory(prefix="destiny-") as workdir:
        repository = DestinyRepository(_binary(request.config), Path(workdir))
        try:
            yield repository
        finally:
            repository.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    repository = getattr(item, "funcargs", {}).get("destiny_repository")
    if report.failed and isinstance(repository, DestinyRepository):
        report.sections.append(("destiny serve log", repository.log()))
