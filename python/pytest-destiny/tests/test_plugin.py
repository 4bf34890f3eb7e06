"""The ``destiny_repository`` fixture, driven by a robot written with whichever Python
destiny-sdk is installed (``scripts/test`` runs this file with 0.7.4 and with 0.17.6)."""

import importlib.metadata
import json
import os
import uuid

import httpx
import pytest
from destiny_sdk.client import RobotClient
from destiny_sdk.enhancements import AnnotationEnhancement, Enhancement, ScoreAnnotation
from destiny_sdk.references import Reference
from destiny_sdk.robots import RobotEnhancementBatchResult

SDK = importlib.metadata.version("destiny-sdk")


def doi_references(n, prefix):
    return [
        {"identifiers": [{"identifier_type": "doi", "identifier": f"10.1234/{prefix}.{i}"}]}
        for i in range(n)
    ]


def run_robot(url, robot, limit=10):
    """A robot as its authors write it with the SDK: poll, download the references,
    upload one annotation per reference, submit; until nothing is pending. Answers the
    ids of the references it enhanced."""
    client = RobotClient(
        base_url=f"{url}/v1", secret_key=robot["client_secret"], client_id=uuid.UUID(robot["id"])
    )
    seen = []
    while (batch := client.poll_robot_enhancement_batch(robot_id=uuid.UUID(robot["id"]), limit=limit)) is not None:
        text = httpx.get(str(batch.reference_storage_url), timeout=30).raise_for_status().text
        references = [Reference.model_validate_json(line) for line in text.splitlines() if line]
        lines = []
        for reference in references:
            seen.append(str(reference.id))
            enhancement = Enhancement(
                reference_id=reference.id,
                source="pytest-robot",
                visibility="public",
                robot_version=SDK,
                content=AnnotationEnhancement(
                    annotations=[ScoreAnnotation(scheme="test:pytest", label="l", score=0.5, data={})]
                ),
            )
            lines.append(enhancement.model_dump_json() + "\n")
        httpx.put(
            str(batch.result_storage_url),
            content="".join(lines).encode(),
            headers={"x-ms-blob-type": "BlockBlob"},
            timeout=30,
        ).raise_for_status()
        client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    return seen


def test_a_robot_completes_a_request(destiny_repository):
    repo = destiny_repository
    robot = repo.register_robot("pytest robot")
    assert robot["client_secret"] and uuid.UUID(robot["id"])
    ids = repo.import_references(doi_references(25, f"complete-{SDK}"))
    assert len(ids) == 25
    request_id = repo.request_enhancements(robot["id"], ids)

    assert sorted(run_robot(repo.url, robot)) == sorted(ids)

    read = repo.wait_for_request(request_id, timeout=60)
    assert read["request_status"] == "completed", read
    assert read["id"] == request_id


def test_import_takes_jsonl_text_dicts_and_sdk_models(destiny_repository):
    repo = destiny_repository
    as_dicts = doi_references(2, "dicts")
    as_text = "".join(json.dumps(r) + "\n" for r in doi_references(2, "text"))
    models = [Reference.model_validate({"id": str(uuid.uuid4()), **r}) for r in doi_references(2, "models")]
    ids = repo.import_references(as_dicts) + repo.import_references(as_text) + repo.import_references(models)
    assert len(set(ids)) == 6
    assert ids[4:] == [str(m.id) for m in models]


def test_a_robot_with_entitlements_is_registered_with_them(destiny_repository):
    if SDK == "0.7.4":
        pytest.skip("destiny-sdk 0.7.4 has no entitlements")
    robot = destiny_repository.register_robot(entitlements=["full_text"])
    assert robot["entitlements"] == ["full_text"]


def test_bad_input_names_the_problem(destiny_repository):
    from pytest_destiny import DestinyError

    with pytest.raises(DestinyError) as failed:
        destiny_repository.import_references("{not json\n")
    assert 400 <= failed.value.status < 500, failed.value


def test_a_failing_test_gets_the_log_and_leaves_no_server(pytester):
    pytester.makepyfile(
        """
        import os
        def test_fails(destiny_repository):
            with open(os.environ["PID_FILE"], "w") as f:
                f.write(str(destiny_repository.pid))
            destiny_repository.register_robot("doomed")
            assert False, "on purpose"
        """
    )
    pid_file = pytester.path / "pid"
    # The server logs its SQL at debug level: the report must show it.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PID_FILE", str(pid_file))
        env.setenv("RUST_LOG", "debug")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*on purpose*", "*destiny serve log*", "*INSERT INTO robots*"])
    pid = int(pid_file.read_text())
    assert not os.path.exists(f"/proc/{pid}"), f"destiny serve {pid} is still running"
