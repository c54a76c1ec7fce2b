"""The deletion record of a project close: JSON plus an HTML rendering with an IG sign-off block.

The record's ``record_sha256`` is the SHA-256 of its canonical JSON (keys sorted, no spaces, UTF-8) with
that key left out; :func:`verify_record` recomputes it, and the HTML shows it so a printed, signed copy
names the exact JSON it approves. The record holds session labels (pseudonyms), counts, account names of
staff, DQR row ids, and the ids, names, event types and action keys of the event subscriptions and the
names of the container wrappers the close switched off: never a patient identifier.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from compliance import __version__
from compliance.reports import render_html, report_metadata, to_json_text

RECORD_KIND = "xnat-enclave project deletion record"
HASH_KEY = "record_sha256"


class RecordError(OSError):
    """The record could not be written or read."""


def canonical_digest(document: dict[str, Any]) -> str:
    body = {key: value for key, value in document.items() if key != HASH_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, HASH_KEY: canonical_digest(document)}


def verify_record(path: Path) -> tuple[bool, str, str]:
    """(matches, stored digest, recomputed digest) for a record JSON file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RecordError(f"cannot read the record {path}: {error}") from error
    if not isinstance(document, dict) or document.get("record") != RECORD_KIND:
        raise RecordError(f"{path} is not a project deletion record")
    stored = str(document.get(HASH_KEY, ""))
    computed = canonical_digest(document)
    return stored == computed, stored, computed


def file_stem(project: str, finished_at: str) -> str:
    stamp = finished_at.replace("-", "").replace(":", "")
    return f"{project}-deletion-record-{stamp}"


def write_record(directory: Path, document: dict[str, Any]) -> dict[str, Path]:
    """Write ``{P}-deletion-record-{UTC}[-N].json`` and ``.html`` (mode 0640), never replacing a record."""
    stem = file_stem(document["project"], document["finished_at"])
    texts = {"json": to_json_text(document), "html": render_record_html(document)}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for number in range(1, 100):
            name = stem if number == 1 else f"{stem}-{number}"
            paths = {kind: directory / f"{name}.{kind}" for kind in texts}
            try:  # the JSON claims the name; its HTML rendering follows it
                claimed = os.open(paths["json"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            except FileExistsError:
                continue
            descriptors = {"json": claimed}
            descriptors["html"] = os.open(paths["html"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            for kind, descriptor in descriptors.items():
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    handle.write(texts[kind])
            return paths
    except OSError as error:
        raise RecordError(f"cannot write the deletion record in {directory}: {error}") from error
    raise RecordError(f"cannot write the deletion record in {directory}: too many records named {stem}")


def render_record_html(document: dict[str, Any]) -> str:
    return render_html(
        "project_close.html.j2",
        document=document,
        **report_metadata("Project deletion record", f"{document['project']} at {document['xnat']}"),
    )


def build_record(
    *,
    project: str,
    xnat: str,
    access: dict[str, Any],
    operator: dict[str, str],
    started_at: str,
    finished_at: str,
    totals: dict[str, int],
    sessions: list[dict[str, Any]],
    members_removed: list[dict[str, str]],
    dqr_cancelled: list[int],
    switched_off: dict[str, list[dict[str, Any]]],
    verification: dict[str, int],
    remains: list[dict[str, Any]],
    rest_calls: dict[str, int],
) -> dict[str, Any]:
    findings = [item for item in remains if item["severity"] == "finding"]
    deleted_sessions = [entry for entry in sessions if entry["deleted"]]
    document = {
        "record": RECORD_KIND,
        "schema_version": 1,
        "tool_version": __version__,
        "project": project,
        "xnat": xnat,
        "access_list": access,
        "operator": operator,
        "started_at": started_at,
        "finished_at": finished_at,
        "outcome": "remains" if findings else "clean",
        "deleted": {
            **totals,
            "members_removed": members_removed,
            "dqr_queued_imports_cancelled": dqr_cancelled,
            "session_labels": sorted(entry["label"] for entry in deleted_sessions),
        },
        # What runs on the project's events, switched off (deactivated, disabled), not deleted.
        "switched_off": switched_off,
        "sessions": sorted(sessions, key=lambda entry: entry["label"]),
        "verification": verification,
        "remains": remains,
        "rest_calls": {"total": sum(rest_calls.values()), "by_route": dict(sorted(rest_calls.items()))},
    }
    return seal(document)
