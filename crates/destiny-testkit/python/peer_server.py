"""A stand-in DESTINY repository built from the REAL Python destiny_sdk 0.7.4.

The robot routes of the repository (spec section 2) are protected by the SDK's own
``destiny_sdk.auth.HMACAuth`` and typed with the SDK's pydantic models, so FastAPI and
pydantic validate what a Rust client sends exactly as the real repository would: methods,
paths, query parameter types (``robot_id`` a UUID4, ``limit`` an int, ``lease`` a
``datetime.timedelta``), headers, JSON bodies and signatures.

Every request is recorded (method, path, raw query, parsed query pairs, headers, body,
response status and body) and listed, unauthenticated, by ``GET /_peer/requests``.
``POST /_peer/mode`` sets one-shot behaviour for the next matching call:

- ``{"poll": "empty"}``: the next poll answers 204;
- ``{"renew": "whole_seconds"}``: the next renew answers an expiry without microseconds;
- ``{"fail_next": {"status": 409, "detail": "..."}}``: the next robot route answers
  that error (after authentication).

Usage: ``python peer_server.py --secret SECRET --client-id UUID`` (or the environment
variables ``PEER_SECRET`` / ``PEER_CLIENT_ID``). The first stdout line is the bound port.
"""

import argparse
import base64
import datetime
import os
import socket
import sys
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qsl

import uvicorn
from destiny_sdk.auth import HMACAuth
from destiny_sdk.robots import (
    EnhancementRequestRead,
    EnhancementRequestStatus,
    RobotEnhancementBatch,
    RobotEnhancementBatchRead,
    RobotEnhancementBatchResult,
    RobotResult,
)
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import UUID4

DEFAULT_LEASE = datetime.timedelta(minutes=10)
MAX_LIMIT = 10000


class Recorder:
    """A pure ASGI middleware recording every HTTP exchange (before authentication)."""

    def __init__(self, app: Any, log: list[dict]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_peer/"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "query_string": scope["query_string"].decode("latin-1"),
            "query": parse_qsl(
                scope["query_string"].decode("latin-1"), keep_blank_values=True
            ),
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]
            ],
            "body": body.decode("utf-8", errors="replace"),
            "body_b64": base64.b64encode(body).decode(),
            "status": None,
            "response_body": "",
        }
        response_chunks: list[bytes] = []

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            elif message["type"] == "http.response.body":
                response_chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    entry["response_body"] = b"".join(response_chunks).decode(
                        "utf-8", errors="replace"
                    )
            await send(message)

        self.log.append(entry)
        await self.app(scope, replay, recording_send)


def build_app(secret: str, client_id: uuid.UUID) -> FastAPI:
    """The app: SDK-authenticated robot routes plus the unauthenticated /_peer routes."""
    log: list[dict] = []
    mode: dict[str, Any] = {}
    app = FastAPI()

    def storage_url(kind: str, batch_id: uuid.UUID) -> str:
        return f"https://storage.example.org/{kind}/{batch_id}.jsonl?sig=abc%2Fdef&se=2030-01-01"

    def take_failure() -> None:
        failure = mode.pop("fail_next", None)
        if failure:
            raise HTTPException(status_code=failure["status"], detail=failure["detail"])

    robots = APIRouter(prefix="/v1", dependencies=[Depends(HMACAuth(secret))])

    @robots.post(
        "/robot-enhancement-batches/",
        response_model=RobotEnhancementBatch,
        responses={204: {}},
    )
    async def poll(
        robot_id: UUID4,
        limit: Annotated[int, Query(le=MAX_LIMIT)] = MAX_LIMIT,
        lease: datetime.timedelta = DEFAULT_LEASE,
    ) -> Any:
        take_failure()
        if mode.pop("poll", None) == "empty":
            return Response(status_code=204)
        batch_id = uuid.uuid4()
        return RobotEnhancementBatch(
            id=batch_id,
            reference_storage_url=storage_url("references", batch_id),
            result_storage_url=storage_url("results", batch_id),
            # Echo what pydantic parsed, so tests see the server's reading of the query.
            extra_fields={
                "robot_id": str(robot_id),
                "limit": limit,
                "lease_seconds": lease.total_seconds(),
            },
        )

    async def renew(batch_id: UUID4, lease: datetime.timedelta = DEFAULT_LEASE) -> Any:
        take_failure()
        expiry = datetime.datetime.now(datetime.UTC) + lease
        if mode.pop("renew", None) == "whole_seconds":
            expiry = expiry.replace(microsecond=0)
        return PlainTextResponse(expiry.isoformat())

    robots.add_api_route(
        "/robot-enhancement-batches/{batch_id}/renew-lease/",
        renew,
        methods=["PATCH", "POST"],
        response_class=PlainTextResponse,
    )

    @robots.get(
        "/robot-enhancement-batches/{batch_id}/", response_model=RobotEnhancementBatch
    )
    async def get_batch(batch_id: UUID4) -> Any:
        take_failure()
        return RobotEnhancementBatch(
            id=batch_id,
            reference_storage_url=storage_url("references", batch_id),
            result_storage_url=storage_url("results", batch_id),
        )

    @robots.post(
        "/robot-enhancement-batches/{batch_id}/results/",
        response_model=RobotEnhancementBatchRead,
        status_code=202,
    )
    async def batch_result(
        batch_id: UUID4, result: RobotEnhancementBatchResult, response: Response
    ) -> Any:
        take_failure()
        if result.request_id != batch_id:
            raise HTTPException(status_code=400, detail="Request ID mismatch")
        if result.error is not None:
            response.status_code = 200
        return RobotEnhancementBatchRead(
            robot_id=client_id,
            source="peer",
            id=batch_id,
            reference_data_url=storage_url("references", batch_id),
            result_storage_url=storage_url("results", batch_id),
            validation_result_url=storage_url("validation", batch_id),
            error=result.error.message if result.error else None,
        )

    @robots.post(
        "/enhancement-requests/{request_id}/results/",
        response_model=EnhancementRequestRead,
    )
    async def request_result(request_id: UUID4, result: RobotResult) -> Any:
        take_failure()
        if result.request_id != request_id:
            raise HTTPException(status_code=400, detail="Request ID mismatch")
        return EnhancementRequestRead(
            robot_id=client_id,
            reference_ids=[uuid.uuid4()],
            source="peer",
            id=request_id,
            request_status=(
                EnhancementRequestStatus.FAILED
                if result.error
                else EnhancementRequestStatus.IMPORTING
            ),
            error=result.error.message if result.error else None,
        )

    app.include_router(robots)

    @app.get("/_peer/requests")
    async def requests() -> list[dict]:
        return log

    @app.post("/_peer/mode")
    async def set_mode(request: Request) -> dict:
        mode.update(await request.json())
        return mode

    return Recorder(app, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", default=os.environ.get("PEER_SECRET"))
    parser.add_argument("--client-id", default=os.environ.get("PEER_CLIENT_ID"))
    args = parser.parse_args()
    if not args.secret or not args.client_id:
        parser.error("--secret and --client-id (or PEER_SECRET / PEER_CLIENT_ID) are required")
    app = build_app(args.secret, uuid.UUID(args.client_id))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
