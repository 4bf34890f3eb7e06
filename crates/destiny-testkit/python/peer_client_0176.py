"""Makes robot calls with the REAL Python destiny_sdk 0.17.6 and prints what it read back.

Reads one JSON object per stdin line:
``{"base_url": URL, "secret": S, "client_id": UUID, "op": OP, ...}`` and prints one JSON
object per stdout line: ``{"answer": TEXT}`` (the SDK model the answer was read into,
as ``model_dump_json`` writes it) or ``{"status": N, "text": BODY}`` for a non-2xx answer.

SDK 0.17.6 sends the search-based enhancement requests through ``OAuthClient``; given the
SDK's own ``HMACSigningAuth`` it signs them as a robot does. For the other robot routes of
today's repository the SDK has no method: they are sent through the SDK's ``RobotClient``
session (its base URL rule, headers and HMAC auth) with the SDK's input model dumped as the
SDK's own methods dump theirs (``json=model.model_dump(mode="json")``).

Ops: ``create_enhancement_request`` (``body``), ``get_enhancement_request`` (``id``),
``create_robot_automation`` (``body``), ``update_robot_automation`` (``id``, ``body``),
``list_robot_automations``, ``request_search_enhancement`` (``body``, ``dry_run``),
``get_search_enhancement_request`` (``id``), ``lookup`` (``identifiers``: lookup strings,
sent by ``OAuthClient.lookup`` with the admin's bearer ``token`` when the job has one).
"""

import json
import sys
import uuid
import warnings

import httpx

warnings.simplefilter("ignore")

from destiny_sdk.client import HMACSigningAuth, OAuthClient, RobotClient  # noqa: E402
from destiny_sdk.robots import (  # noqa: E402
    EnhancementRequestIn,
    EnhancementRequestRead,
    RobotAutomation,
    RobotAutomationIn,
)
from destiny_sdk.references import Reference  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402


def session_call(job: dict, method: str, path: str, body=None) -> httpx.Response:
    """A call through the SDK RobotClient's signed session."""
    client = RobotClient(job["base_url"], job["secret"], uuid.UUID(job["client_id"]))
    kwargs = {} if body is None else {"json": body.model_dump(mode="json")}
    response = client.session.request(method, path, **kwargs)
    response.raise_for_status()
    return response


class BearerAuth(httpx.Auth):
    """A fixed bearer token (the local repository's admin token)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def oauth_client(job: dict) -> OAuthClient:
    """The SDK's OAuthClient with the job's bearer token, or else the SDK's HMAC auth."""
    if "token" in job:
        auth = BearerAuth(job["token"])
    else:
        auth = HMACSigningAuth(
            secret_key=job["secret"], client_id=uuid.UUID(job["client_id"])
        )
    return OAuthClient(base_url=job["base_url"], auth=auth)


def handle(job: dict) -> str:
    """Runs one call; the model read from the answer, as JSON text."""
    op = job["op"]
    if op == "create_enhancement_request":
        body = EnhancementRequestIn.model_validate(job["body"])
        answer = session_call(job, "POST", "/enhancement-requests/", body)
        return EnhancementRequestRead.model_validate(answer.json()).model_dump_json()
    if op == "get_enhancement_request":
        answer = session_call(job, "GET", f"/enhancement-requests/{job['id']}/")
        return EnhancementRequestRead.model_validate(answer.json()).model_dump_json()
    if op == "create_robot_automation":
        body = RobotAutomationIn.model_validate(job["body"])
        answer = session_call(job, "POST", "/enhancement-requests/automations/", body)
        return RobotAutomation.model_validate(answer.json()).model_dump_json()
    if op == "update_robot_automation":
        body = RobotAutomationIn.model_validate(job["body"])
        path = f"/enhancement-requests/automations/{job['id']}/"
        answer = session_call(job, "PUT", path, body)
        return RobotAutomation.model_validate(answer.json()).model_dump_json()
    if op == "list_robot_automations":
        answer = session_call(job, "GET", "/enhancement-requests/automations/")
        adapter = TypeAdapter(list[RobotAutomation])
        return adapter.dump_json(adapter.validate_python(answer.json())).decode()
    if op == "request_search_enhancement":
        body = job["body"]
        read = oauth_client(job).request_search_enhancement(
            body["robot_id"],
            body["search_query"],
            body.get("source"),
            dry_run=job["dry_run"],
        )
        return read.model_dump_json()
    if op == "get_search_enhancement_request":
        read = oauth_client(job).get_search_enhancement_request(job["id"])
        return read.model_dump_json()
    if op == "lookup":
        found = oauth_client(job).lookup(job["identifiers"])
        adapter = TypeAdapter(list[Reference])
        return adapter.dump_json(found).decode()
    msg = f"unknown op {op!r}"
    raise ValueError(msg)


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            out = {"answer": handle(job)}
        except httpx.HTTPStatusError as exc:
            out = {"status": exc.response.status_code, "text": exc.response.text}
        print(json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
