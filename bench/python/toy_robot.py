"""The toy robot written the way Python robots are written today, on destiny-sdk 0.7.4.

It is the Python side of `scripts/bench-robot` (see docs/benchmarks.md, "Robot runtime
vs the Python loop"): one process, one batch at a time, the loop of the reference
Python toy robot:

    poll_robot_enhancement_batch(limit=B)
      -> GET the reference file (httpx)
      -> Reference.model_validate_json for each line
      -> one toy enhancement per reference, Enhancement.to_jsonl()
      -> PUT the result file (x-ms-blob-type: BlockBlob, Content-Type: application/jsonl)
      -> send_robot_enhancement_batch_result
      -> repeat; exit when the poll answers 204 (no work left).

Unlike the reference toy robot it does not sleep between batches (it polls again at
once), so the benchmark measures the Python loop at its best.

Settings (the same names the Rust runtime reads): DESTINY_REPOSITORY_URL, ROBOT_ID,
ROBOT_SECRET, BATCH_SIZE (default 100). On exit it prints one line to stderr:
`toy_robot.py: batches=N references=M`.

Like the reference toy robot, it opens a new HTTP client for each file transfer
(`httpx.get`/`httpx.put`; creating an `httpx.Client` costs ~16 ms of CPU, mostly its TLS
context). TOY_REUSE_HTTP=1 reuses one `httpx.Client` for every transfer instead: the
tuned variant of the loop, reported beside it.
"""

import os
import random
import sys
import uuid

import httpx
from destiny_sdk.client import RobotClient
from destiny_sdk.enhancements import AnnotationEnhancement, Enhancement, ScoreAnnotation
from destiny_sdk.references import Reference
from destiny_sdk.robots import RobotEnhancementBatchResult, RobotError
from destiny_sdk.visibility import Visibility

SOURCE = "Toy Robot"
ROBOT_VERSION = "0.1.0"
HTTP_TIMEOUT_SECONDS = 60

# What file transfers go through: the httpx module (a new client per call) or, with
# TOY_REUSE_HTTP=1, one shared client.
http = httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) if os.environ.get("TOY_REUSE_HTTP") == "1" else httpx

TOYS = [
    "Woody",
    "Jessie",
    "Bullseye",
    "Stinky Pete",
    "Buzz Lightyear",
    "Rex",
    "Mr. Potatohead",
    "Mrs. Potato Head",
    "Bo Peep",
    "Slinky Dog",
    "Etch a Sketch",
    "Hamm",
    "Lenny",
    "Emperor Zurg",
    "Little Green Man 1",
    "Little Green Man n",
    "Little Green Man n+1",
]


def toy_enhancement(reference_id: uuid.UUID) -> Enhancement:
    """One annotation enhancement holding one `meta:toy` score annotation."""
    return Enhancement(
        reference_id=reference_id,
        source=SOURCE,
        visibility=Visibility.PUBLIC,
        robot_version=ROBOT_VERSION,
        content=AnnotationEnhancement(
            annotations=[
                ScoreAnnotation(
                    annotation_type="score",
                    scheme="meta:toy",
                    label="toy",
                    score=round(random.randint(0, 100) / 100, 2),  # noqa: S311
                    data={"toy": random.choice(TOYS)},  # noqa: S311
                )
            ]
        ),
    )


def process_batch(client: RobotClient, batch) -> int:
    """Downloads, enhances, uploads and submits one batch; answers its reference count."""
    try:
        response = http.get(str(batch.reference_storage_url), timeout=HTTP_TIMEOUT_SECONDS)
        response.raise_for_status()
        lines = []
        for line in response.text.splitlines():
            if not line.strip():
                continue
            reference = Reference.model_validate_json(line)
            lines.append(toy_enhancement(reference.id).to_jsonl() + "\n")
        body = "".join(lines).encode("utf-8")
        response = http.put(
            str(batch.result_storage_url),
            content=body,
            headers={
                "x-ms-blob-type": "BlockBlob",
                "Content-Type": "application/jsonl",
            },
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
    except Exception as e:
        client.send_robot_enhancement_batch_result(
            RobotEnhancementBatchResult(
                request_id=batch.id,
                error=RobotError(message=f"Failed to process request: {e!s}"),
            )
        )
        raise
    client.send_robot_enhancement_batch_result(
        RobotEnhancementBatchResult(request_id=batch.id)
    )
    return len(lines)


def main() -> None:
    robot_id = uuid.UUID(os.environ["ROBOT_ID"])
    client = RobotClient(
        base_url=os.environ["DESTINY_REPOSITORY_URL"],
        secret_key=os.environ["ROBOT_SECRET"],
        client_id=robot_id,
    )
    batch_size = int(os.environ.get("BATCH_SIZE", "100"))
    batches = references = 0
    while True:
        batch = client.poll_robot_enhancement_batch(
            robot_id=robot_id, limit=batch_size, timeout=HTTP_TIMEOUT_SECONDS
        )
        if batch is None:
            break
        references += process_batch(client, batch)
        batches += 1
    print(f"toy_robot.py: batches={batches} references={references}", file=sys.stderr)


if __name__ == "__main__":
    main()
