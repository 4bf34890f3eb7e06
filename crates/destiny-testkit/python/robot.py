"""A robot written with the Python destiny-sdk 0.7.4 `RobotClient`, driven by the Rust
tests against the local repository (`crates/destiny-repository/tests/python_robot.rs`).

Usage: robot.py BASE_URL CLIENT_ID SECRET < jobs.jsonl

Each stdin line is one job (JSON); each answer is one stdout line (JSON), in order:

- {"op": "drain", "limit": N, "lease": "PT5M", "renew": "PT10M", "fail_every": K}
  Polls until 204. For each batch: downloads the reference file (every line must parse
  as an SDK `Reference`), renews the lease (SDK 0.7.4 sends POST), uploads a result file
  (an annotation per reference, or a `LinkedRobotError` for every K-th reference when
  K > 0) with `x-ms-blob-type: BlockBlob`, and submits the batch.
  Answer: {"batches": [{"id", "references": [ids], "read": RobotEnhancementBatchRead}]}
- {"op": "legacy", "request": EnhancementRequestRead, "fail_every": K, "error": msg|null}
  The legacy flow: downloads `reference_data_url`, uploads to `result_storage_url`
  (unless `error` is set), then `send_robot_result`.
  Answer: {"references": [ids], "read": EnhancementRequestRead}
- {"op": "send_robot_result", "request_id": id, "error": msg|null}
  Answer: {"read": EnhancementRequestRead}

An HTTP error of a job is answered as {"http_error": {"status", "body"}} instead.
"""

import json
import sys
import uuid

import httpx
from destiny_sdk.client import RobotClient
from destiny_sdk.enhancements import AnnotationEnhancement, Enhancement, ScoreAnnotation
from destiny_sdk.references import Reference
from destiny_sdk.robots import (
    LinkedRobotError,
    RobotEnhancementBatchResult,
    RobotError,
    RobotResult,
)

SOURCE = "python-toy-robot"


def download(url):
    response = httpx.get(str(url), timeout=30)
    response.raise_for_status()
    return [Reference.from_jsonl(line) for line in response.text.splitlines() if line.strip()]


def upload(url, references, fail_every, counter):
    lines = []
    for reference in references:
        counter[0] += 1
        if fail_every and counter[0] % fail_every == 0:
            entry = LinkedRobotError(
                reference_id=reference.id, message=f"toy robot gave up on {reference.id}"
            )
        else:
            entry = Enhancement(
                reference_id=reference.id,
                source=SOURCE,
                visibility="public",
                robot_version="0.7.4",
                content=AnnotationEnhancement(
                    annotations=[
                        ScoreAnnotation(
                            scheme="toy:python",
                            label="toy",
                            score=0.5,
                            data={"robot": "python"},
                        )
                    ]
                ),
            )
        lines.append(entry.to_jsonl() + "\n")
    response = httpx.put(
        str(url),
        content="".join(lines).encode(),
        headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "application/jsonl"},
        timeout=30,
    )
    response.raise_for_status()


def drain(client, robot_id, job):
    counter = [0]
    batches = []
    while True:
        batch = client.poll_robot_enhancement_batch(
            robot_id=robot_id, limit=job["limit"], lease=job.get("lease")
        )
        if batch is None:
            break
        references = download(batch.reference_storage_url)
        if job.get("renew"):
            client.renew_robot_enhancement_batch_lease(batch.id, job["renew"])
        upload(batch.result_storage_url, references, job.get("fail_every", 0), counter)
        read = client.send_robot_enhancement_batch_result(
            RobotEnhancementBatchResult(request_id=batch.id)
        )
        batches.append(
            {
                "id": str(batch.id),
                "references": [str(r.id) for r in references],
                "read": read.model_dump(mode="json"),
            }
        )
    return {"batches": batches}


def legacy(client, job):
    request = job["request"]
    references = download(request["reference_data_url"])
    error = job.get("error")
    if error is None:
        upload(request["result_storage_url"], references, job.get("fail_every", 0), [0])
    read = client.send_robot_result(
        RobotResult(
            request_id=request["id"],
            error=RobotError(message=error) if error is not None else None,
        )
    )
    return {"references": [str(r.id) for r in references], "read": read.model_dump(mode="json")}


def send_robot_result(client, job):
    error = job.get("error")
    read = client.send_robot_result(
        RobotResult(
            request_id=job["request_id"],
            error=RobotError(message=error) if error is not None else None,
        )
    )
    return {"read": read.model_dump(mode="json")}


def main():
    base_url, client_id, secret = sys.argv[1:4]
    robot_id = uuid.UUID(client_id)
    client = RobotClient(base_url=base_url, secret_key=secret, client_id=robot_id)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            if job["op"] == "drain":
                answer = drain(client, robot_id, job)
            elif job["op"] == "legacy":
                answer = legacy(client, job)
            elif job["op"] == "send_robot_result":
                answer = send_robot_result(client, job)
            else:
                raise ValueError(f"unknown op {job['op']!r}")
        except httpx.HTTPStatusError as e:
            answer = {
                "http_error": {"status": e.response.status_code, "body": e.response.text}
            }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
