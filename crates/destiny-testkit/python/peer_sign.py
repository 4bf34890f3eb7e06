"""Signs request bodies with the REAL Python destiny_sdk 0.7.4 and prints the results.

Reads one JSON object per stdin line and prints one JSON object per stdout line:

- ``{"op": "sign", "secret": S, "client_id": UUID, "body_hex": HEX, "timestamp": FLOAT}``
  -> ``{"signature": HEX, "timestamp_text": TEXT}``: ``destiny_sdk.auth.create_signature``
  for exactly these inputs; ``timestamp_text`` is the text Python puts in the message
  (``f"{timestamp}"``, i.e. the float's repr).
- ``{"op": "flow", "secret": S, "client_id": UUID, "method": M, "url": URL,
  "body_hex": HEX}`` -> ``{"headers": {...}, "body_hex": HEX}``: the SDK's own
  ``destiny_sdk.client.HMACSigningAuth`` auth flow run over an ``httpx.Request``, stamped
  with ``time.time()`` as the Python client does; ``headers`` holds the three headers it
  set (``Authorization``, ``X-Client-Id``, ``X-Request-Timestamp``).

A line that cannot be handled gives ``{"error": "..."}`` (the process carries on).
"""

import json
import sys
import uuid

import httpx
from destiny_sdk.auth import create_signature
from destiny_sdk.client import HMACSigningAuth

SIGNED_HEADERS = ("Authorization", "X-Client-Id", "X-Request-Timestamp")


def handle(job: dict) -> dict:
    """One job: a direct ``create_signature`` call or a full signing flow."""
    secret = job["secret"]
    client_id = uuid.UUID(job["client_id"])
    body = bytes.fromhex(job.get("body_hex", ""))
    if job["op"] == "sign":
        timestamp = float(job["timestamp"])
        return {
            "signature": create_signature(secret, body, client_id, timestamp),
            "timestamp_text": f"{timestamp}",
        }
    if job["op"] == "flow":
        request = httpx.Request(job["method"], job["url"], content=body)
        flow = HMACSigningAuth(secret_key=secret, client_id=client_id).auth_flow(request)
        signed = next(flow)
        return {
            "headers": {name: signed.headers[name] for name in SIGNED_HEADERS},
            "body_hex": signed.content.hex(),
        }
    return {"error": f"unknown op {job['op']!r}"}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = handle(json.loads(line))
        except Exception as exc:  # noqa: BLE001 - reported to the caller per line
            out = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
