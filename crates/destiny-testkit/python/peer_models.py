"""Validates and writes JSON with the REAL Python destiny_sdk models (0.7.4, or 0.17.6 when
run by that peer's interpreter).

Two modes:

``python peer_models.py validate`` (the default) reads one JSON object per stdin line,
``{"model": NAME, "json": VALUE}`` or ``{"model": NAME, "text": JSON_TEXT}``, validates it
with the named SDK model (``json``: ``validate_python`` of the value, as ``model_validate``
does; ``text``: ``validate_json`` of the text, as ``from_jsonl`` / FastAPI bodies do) and
prints one line per input:
``{"ok": true, "dump": <model_dump(mode="json")>, "jsonl": <to_jsonl() or null>}`` or
``{"ok": false, "error": "..."}`` (with ``"bad_job": true`` when the job itself is
wrong, such as an unknown model name).

``python peer_models.py samples`` prints one line per sample object built in Python,
covering every model, every enhancement content type, annotation type and identifier type:
``{"model": NAME, "label": LABEL, "json": <model_dump(mode="json")>,
"jsonl": <to_jsonl() or null>}``.

NAME is any model or type alias of ``destiny_sdk.robots``, ``references``,
``enhancements``, ``identifiers`` or (0.17.6) ``search`` (``Reference``, ``Enhancement``,
``EnhancementContent``, ``ExternalIdentifier``, ``Identifier``, ``RobotResult``, ...).
"""

import datetime
import json
import sys
import uuid
from typing import Any

from destiny_sdk import enhancements, identifiers, references, robots
from destiny_sdk.enhancements import (
    AbstractContentEnhancement,
    AnnotationEnhancement,
    Authorship,
    BibliographicMetadataEnhancement,
    BooleanAnnotation,
    Enhancement,
    Location,
    LocationEnhancement,
    RawEnhancement,
    ReferenceAssociationEnhancement,
    ScoreAnnotation,
)
from destiny_sdk.identifiers import (
    DOIIdentifier,
    ERICIdentifier,
    OpenAlexIdentifier,
    OtherIdentifier,
    ProQuestIdentifier,
    PubMedIdentifier,
)
from destiny_sdk.references import Reference
from destiny_sdk.robots import (
    EnhancementRequestIn,
    EnhancementRequestRead,
    EnhancementRequestStatus,
    LinkedRobotError,
    ProvisionedRobot,
    Robot,
    RobotEnhancementBatch,
    RobotEnhancementBatchRead,
    RobotEnhancementBatchResult,
    RobotError,
    RobotIn,
    RobotRequest,
    RobotResult,
    RobotResultValidationEntry,
)
from pydantic import TypeAdapter, ValidationError

try:  # SDK 0.17: search models (SearchResultTotal); 0.7.4 has no such module.
    from destiny_sdk import search
except ImportError:
    search = None

MODULES = tuple(m for m in (robots, references, enhancements, identifiers, search) if m)
_adapters: dict[str, TypeAdapter] = {}


def adapter(name: str) -> TypeAdapter:
    """The TypeAdapter of the SDK model or type alias called ``name``."""
    if name not in _adapters:
        for module in MODULES:
            if not name.startswith("_") and hasattr(module, name):
                _adapters[name] = TypeAdapter(getattr(module, name))
                break
        else:
            raise KeyError(f"no model {name!r} in destiny_sdk")
    return _adapters[name]


def describe(name: str, obj: Any) -> dict:
    """The JSON dump of a validated object, and its JSONL line when it has one."""
    to_jsonl = getattr(obj, "to_jsonl", None)
    return {
        # dump_json, read back: model_dump(mode="json") with pydantic's JSON rules for
        # values JSON cannot hold (an infinite float becomes null, as in to_jsonl()).
        "dump": json.loads(adapter(name).dump_json(obj)),
        "jsonl": to_jsonl() if to_jsonl else None,
    }


def validate(job: dict) -> dict:
    """One validation job."""
    try:
        model = adapter(job["model"])
    except KeyError as exc:
        return {"ok": False, "bad_job": True, "error": str(exc)}
    try:
        if "text" in job:
            obj = model.validate_json(job["text"])
        else:
            obj = model.validate_python(job["json"])
    except ValidationError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the caller per line
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, **describe(job["model"], obj)}


# ---- samples ---------------------------------------------------------------------------

REF = uuid.UUID("3a533776-c9ad-4aac-a089-d654d509490c")
OTHER_REF = uuid.UUID("5b0e6a1e-2d8c-4a4e-9b51-0c7f0c0a6f11")
ROBOT = uuid.UUID("8b1e3f36-8c3e-4a8c-9d2a-0f0f6a8e1c11")
BATCH = uuid.UUID("0f7e5d1c-3b2a-4c9d-8e7f-6a5b4c3d2e1f")
ENH = uuid.UUID("1749692f-e221-4041-9f4e-661b7ea0cd00")
URL = "https://storage.example.org/c/b.jsonl?se=2030-01-01T00%3A00%3A00Z&sig=a%2Fb%3D"
# Text a JSON encoder leaves raw but to_jsonl rewrites (U+0085, U+2028, U+2029), plus
# escapes, a control character, DEL, non-ASCII and an astral character.
TRICKY = 'line\u2028sep\u0085nel\u2029par "q" \\ / \t\n\r\b\f \x1f \x7f é ø 漢 😀'

IDENTIFIERS = {
    "doi": DOIIdentifier(identifier="10.1000/xyz-(1)_a;b:c%<d>[e]+&f"),
    "doi_url": DOIIdentifier(identifier="https://doi.org/10.58830/ozgur.pub782"),
    "eric": ERICIdentifier(identifier="EJ1234567"),
    "pm_id": PubMedIdentifier(identifier=12345678),
    "pro_quest": ProQuestIdentifier(identifier="2779000123"),
    "open_alex": OpenAlexIdentifier(identifier="W4411634280"),
    "other": OtherIdentifier(identifier="ISBN 978-3-16", other_identifier_name="isbn"),
}


def contents() -> dict[str, Any]:
    """One or more samples of every enhancement content type."""
    return {
        "bibliographic_full": BibliographicMetadataEnhancement(
            authorship=[
                Authorship(display_name="Zeynep Sungur", position="first"),
                Authorship(
                    display_name="Gül Dertli",
                    orcid="https://orcid.org/0000-0002-0494-408X",
                    position="middle",
                ),
                Authorship(display_name="Oktay Orçun Beken", position="last"),
            ],
            cited_by_count=42,
            created_date=datetime.date(2025, 6, 26),
            updated_date=datetime.date(2025, 6, 27),
            publication_date=datetime.date(1999, 1, 31),
            publication_year=1999,
            publisher="Example Press",
            title=TRICKY,
        ),
        "bibliographic_empty": BibliographicMetadataEnhancement(),
        "abstract": AbstractContentEnhancement(process="uninverted", abstract=TRICKY),
        "abstract_closed_api": AbstractContentEnhancement(
            process="closed_api", abstract="An abstract."
        ),
        "annotation": AnnotationEnhancement(
            annotations=[
                BooleanAnnotation(
                    scheme="openalex:topic",
                    label="Economics",
                    value=True,
                    score=0.95,
                    data={"zeta": 1, "alpha": [None, 2.5, "x"], "mid": {"b": 1, "a": 2}},
                ),
                BooleanAnnotation(scheme="classifier:rct", label="rct", value=False),
                ScoreAnnotation(scheme="pubmed:mesh", label="Humans", score=1),
                ScoreAnnotation(
                    scheme="model:v2",
                    label="small",
                    score=1e-7,
                    data={"threshold": 0.00001, "n": 12345678901234},
                ),
                ScoreAnnotation(scheme="model:v2", label="big", score=2.5e16),
            ]
        ),
        "location": LocationEnhancement(
            locations=[
                Location(
                    is_oa=True,
                    version="publishedVersion",
                    landing_page_url="https://doi.org/10.58830/ozgur.pub782",
                    pdf_url="https://example.org/paper.pdf?download=1",
                    license="cc-by",
                    extra={"source": {"id": "S1", "type": None}, "b": True, "a": 1.0},
                ),
                Location(),
                Location(is_oa=False, version="acceptedVersion"),
                Location(version="submittedVersion", landing_page_url="http://example.org"),
                Location(version="other"),
            ]
        ),
        "reference_association": ReferenceAssociationEnhancement(
            associated_reference_ids=[
                OTHER_REF,
                *(i for k, i in IDENTIFIERS.items() if k != "doi_url"),
            ],
            association_type="cites",
        ),
        "reference_association_is_cited_by": ReferenceAssociationEnhancement(
            associated_reference_ids=[OTHER_REF], association_type="is_cited_by"
        ),
        "reference_association_is_similar_to": ReferenceAssociationEnhancement(
            associated_reference_ids=[IDENTIFIERS["doi"]], association_type="is_similar_to"
        ),
        "raw": RawEnhancement(
            source_export_date=datetime.datetime(
                2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC
            ),
            description="Raw export",
            metadata={"exporter": "eppi", "version": 3, "none": None},
            data={"record": {"title": TRICKY, "year": 1999, "tags": ["a", "b"]}, "n": 1.5},
        ),
        "raw_whole_seconds": RawEnhancement(
            source_export_date=datetime.datetime(
                2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
            ),
            description="Raw export",
            data=["list", "data"],
        ),
    }


def enhancement(content: Any) -> Enhancement:
    """An enhancement around ``content`` carrying every optional field."""
    return Enhancement(
        id=ENH,
        reference_id=REF,
        source="peer-test",
        visibility="restricted",
        robot_version="1.2.3",
        derived_from=[ENH, OTHER_REF],
        content=content,
    )


def samples() -> list[tuple[str, str, Any]]:
    """(model name, label, object) for every sample."""
    out: list[tuple[str, str, Any]] = []
    for label, ident in IDENTIFIERS.items():
        out.append(("ExternalIdentifier", label, ident))
    for label, content in contents().items():
        out.append(("EnhancementContent", label, content))
        out.append(("Enhancement", label, enhancement(content)))
    # Every content type also once without the optional enhancement fields.
    for label, content in contents().items():
        out.append(
            (
                "Enhancement",
                f"{label}_minimal",
                Enhancement(
                    reference_id=REF, source="s", visibility="hidden", content=content
                ),
            )
        )
    out.append(
        (
            "Reference",
            "full",
            Reference(
                id=REF,
                visibility="public",
                identifiers=[i for k, i in IDENTIFIERS.items() if k != "doi_url"],
                enhancements=[enhancement(c) for c in contents().values()],
            ),
        )
    )
    out.append(("Reference", "minimal", Reference(id=REF)))
    out.append(
        (
            "Reference",
            "hidden_empty_lists",
            Reference(id=REF, visibility="hidden", identifiers=[], enhancements=[]),
        )
    )
    out += [
        ("RobotError", "plain", RobotError(message=TRICKY)),
        ("LinkedRobotError", "plain", LinkedRobotError(message=TRICKY, reference_id=REF)),
        ("RobotResult", "ok", RobotResult(request_id=BATCH)),
        ("RobotResult", "error", RobotResult(request_id=BATCH, error=RobotError(message="boom"))),
        ("RobotEnhancementBatchResult", "ok", RobotEnhancementBatchResult(request_id=BATCH)),
        (
            "RobotEnhancementBatchResult",
            "error",
            RobotEnhancementBatchResult(request_id=BATCH, error=RobotError(message="Échec")),
        ),
    ]
    # A batch and a legacy request are declared alike: the same samples of each.
    for model in (RobotEnhancementBatch, RobotRequest):
        out += [
            (
                model.__name__,
                "plain",
                model(id=BATCH, reference_storage_url=URL, result_storage_url=URL),
            ),
            (
                model.__name__,
                "extra_fields",
                model(
                    id=BATCH,
                    reference_storage_url="http://127.0.0.1:8000/refs.jsonl",
                    result_storage_url=URL,
                    extra_fields={"z": 1, "a": {"nested": [1, None]}},
                ),
            ),
        ]
    out += [
        (
            "RobotEnhancementBatchRead",
            "full",
            RobotEnhancementBatchRead(
                robot_id=ROBOT,
                source="peer",
                id=BATCH,
                reference_data_url=URL,
                result_storage_url=URL,
                validation_result_url=URL,
                error="the whole batch failed",
            ),
        ),
        (
            "RobotEnhancementBatchRead",
            "minimal",
            RobotEnhancementBatchRead(robot_id=ROBOT, id=BATCH),
        ),
        (
            "EnhancementRequestIn",
            "full",
            EnhancementRequestIn(robot_id=ROBOT, reference_ids=[REF, OTHER_REF], source="me"),
        ),
        ("EnhancementRequestIn", "minimal", EnhancementRequestIn(robot_id=ROBOT, reference_ids=[])),
        (
            "RobotResultValidationEntry",
            "success",
            RobotResultValidationEntry(reference_id=REF),
        ),
        (
            "RobotResultValidationEntry",
            "error",
            RobotResultValidationEntry(
                reference_id=REF, error="Duplicate reference ID in enhancement result."
            ),
        ),
        (
            "RobotResultValidationEntry",
            "parse_error",
            RobotResultValidationEntry(error="Entry 3 could not be parsed: ..."),
        ),
        ("RobotIn", "plain", RobotIn(name="robot", description=TRICKY, owner="me")),
        ("Robot", "plain", Robot(name="robot", description="d", owner="me", id=ROBOT)),
        (
            "ProvisionedRobot",
            "plain",
            ProvisionedRobot(
                name="robot", description="d", owner="me", id=ROBOT, client_secret="ab" * 32
            ),
        ),
    ]
    for status in EnhancementRequestStatus:
        out.append(
            (
                "EnhancementRequestRead",
                str(status.value),
                EnhancementRequestRead(
                    robot_id=ROBOT,
                    reference_ids=[REF],
                    id=BATCH,
                    request_status=status,
                    source="peer" if status == "failed" else None,
                    reference_data_url=URL if status == "completed" else None,
                    result_storage_url=URL if status == "completed" else None,
                    validation_result_url=URL if status == "completed" else None,
                    error="failed" if status == "failed" else None,
                ),
            )
        )
    # The untagged result-file line: an enhancement, or an error for one reference.
    out.append(("EnhancementResultEntry", "enhancement", enhancement(contents()["abstract"])))
    out.append(("EnhancementResultEntry", "error", LinkedRobotError(message="m", reference_id=REF)))
    return out


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "validate"
    if mode == "samples":
        for model, label, obj in samples():
            print(json.dumps({"model": model, "label": label, **describe(model, obj)}))
        return
    if mode != "validate":
        sys.exit(f"unknown mode {mode!r}: use 'validate' or 'samples'")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except json.JSONDecodeError as exc:
            bad = {"ok": False, "bad_job": True, "error": f"bad job line: {exc}"}
            print(json.dumps(bad), flush=True)
            continue
        print(json.dumps(validate(job)), flush=True)


if __name__ == "__main__":
    main()
