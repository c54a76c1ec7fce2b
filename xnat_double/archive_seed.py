"""Seed entries for the archive and the prearchive (the ``archive:`` and ``prearchive:`` keys of a seed).

```yaml
archive:
  - project: CARDIO01            # must be a seeded project
    subject: S01                 # created when missing (an entry without subject seeds project resources)
    session: S01_CT1             # optional: an image session of the subject
    xsiType: xnat:ctSessionData  # session type (default from modality, else xnat:mrSessionData)
    date: "2024-01-05"           # also time, UID, dcmAccessionNumber, dcmPatientId, modality, …
    scans:
      - id: "1"
        type: AXIAL              # also series_description, modality, UID, quality, note, xsiType
        resources:
          - label: DICOM
            format: DICOM
            files: {"a.dcm": "text content", "b.dcm": {size: 1048576}, "c.json": {base64: "e30="},
                    "d.dcm": {path: /abs/file}}
    resources: [...]             # resources of the session (or of the subject/project when no session)
prearchive:
  - {project: CARDIO01, subject: S02, session: S02_MR1, status: READY, timestamp: "20240105_101500123",
     xsiType: xnat:mrSessionData, UID: "1.2.3", scans: [...]}   # project null = the Unassigned folder
```
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .archive_model import (
    EXPERIMENT_ATTRIBUTES,
    SCAN_ATTRIBUTES,
    ArchiveError,
    Experiment,
    ResourceOwner,
    add_resource,
    apply_fields,
    create_scan,
    create_subject,
    new_experiment,
    register_experiment,
    write_file,
)
from .archive_types import SESSION_TYPE_BY_MODALITY, scan_type_for
from .prearchive import add_prearchive_session
from .state import DoubleState

SESSION_KEYS = frozenset(
    {"project", "subject", "session", "xsiType", "scans", "resources", "status", "timestamp"}
)


class ArchiveSeedError(ValueError):
    """An archive seed entry the double cannot apply; the message names the entry."""


def apply_archive_seed(state: DoubleState, entries: list[dict[str, Any]]) -> None:
    _apply_entries(state, entries, "archive", _apply_archive_entry)


def apply_prearchive_seed(state: DoubleState, entries: list[dict[str, Any]]) -> None:
    _apply_entries(state, entries, "prearchive", _apply_prearchive_entry)


def _apply_entries(
    state: DoubleState,
    entries: list[dict[str, Any]],
    key: str,
    apply: Callable[[DoubleState, dict[str, Any], str], None],
) -> None:
    for index, entry in enumerate(entries):
        where = f"{key}[{index}]"
        try:
            apply(state, entry, where)
        except ArchiveError as error:
            raise ArchiveSeedError(f"{where}: {error.message}") from error


def _site_id(state: DoubleState) -> str:
    return str(state.site_config.get("siteId") or "XNAT")


def _session_type(entry: dict[str, Any]) -> str:
    modality = str(entry.get("modality") or "").upper()
    return entry.get("xsiType") or SESSION_TYPE_BY_MODALITY.get(modality, "xnat:mrSessionData")


def _apply_archive_entry(state: DoubleState, entry: dict[str, Any], where: str) -> None:
    project_id = entry.get("project")
    if project_id not in state.projects:
        raise ArchiveSeedError(f"{where}: project {project_id!r} is not seeded (seed projects first)")
    store = state.archive
    if not entry.get("subject"):
        _add_resources(state, store.project(project_id), entry.get("resources") or [], where)
        return
    subject = store.find_subject(project_id, entry["subject"]) or create_subject(
        store, _site_id(state), project_id, entry["subject"], "admin"
    )
    if not entry.get("session"):
        _add_resources(state, subject, entry.get("resources") or [], where)
        return
    experiment = new_experiment(store, subject, entry["session"], _session_type(entry), "admin")
    _fill_session(state, experiment, entry, where)
    register_experiment(store, _site_id(state), experiment)


def _apply_prearchive_entry(state: DoubleState, entry: dict[str, Any], where: str) -> None:
    project_id = entry.get("project")
    if project_id is not None and project_id not in state.projects:
        raise ArchiveSeedError(f"{where}: project {project_id!r} is not seeded (null = Unassigned)")
    if not entry.get("session"):
        raise ArchiveSeedError(f"{where}: 'session' (the session label) is required")
    session = add_prearchive_session(
        state.archive,
        project_id,
        subject=str(entry.get("subject") or ""),
        label=entry["session"],
        xsi_type=_session_type(entry),
        timestamp=entry.get("timestamp"),
    )
    session.status = str(entry.get("status") or "READY")
    _fill_session(state, session.draft, entry, where)


def _fill_session(state: DoubleState, experiment: Experiment, entry: dict[str, Any], where: str) -> None:
    fields = {key: str(value) for key, value in entry.items() if key not in SESSION_KEYS}
    apply_fields(experiment, fields, EXPERIMENT_ATTRIBUTES, set())
    for index, scan_entry in enumerate(entry.get("scans") or []):
        scan_where = f"{where}.scans[{index}]"
        if "id" not in scan_entry:
            raise ArchiveSeedError(f"{scan_where}: 'id' is required")
        modality = str(scan_entry.get("modality") or experiment.modality or "")
        scan = create_scan(
            state.archive,
            experiment,
            str(scan_entry["id"]),
            scan_entry.get("xsiType") or scan_type_for(modality),
        )
        scan_fields = {
            key: str(value) for key, value in scan_entry.items() if key not in ("id", "xsiType", "resources")
        }
        apply_fields(scan, scan_fields, SCAN_ATTRIBUTES, set())
        _add_resources(state, scan, scan_entry.get("resources") or [], scan_where)
    _add_resources(state, experiment, entry.get("resources") or [], where)


def _add_resources(
    state: DoubleState, owner: ResourceOwner, entries: list[dict[str, Any]], where: str
) -> None:
    for index, entry in enumerate(entries):
        resource_where = f"{where}.resources[{index}]"
        if not entry.get("label"):
            raise ArchiveSeedError(f"{resource_where}: 'label' is required")
        resource = add_resource(
            state.archive, owner, entry["label"], format=str(entry.get("format") or ""),
            content=str(entry.get("content") or ""),
        )  # fmt: skip
        for path, spec in (entry.get("files") or {}).items():
            write_file(
                state, resource, path, _file_bytes(spec, f"{resource_where}.files[{path}]"), overwrite=True
            )


class Filler(io.RawIOBase):
    """``size`` deterministic bytes (0, 1, …, 255, 0, …) read in chunks, for large seeded files."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._pattern = bytes(range(256)) * 4096

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        count = self._left if size < 0 else min(size, self._left)
        self._left -= count
        return (self._pattern * (count // len(self._pattern) + 1))[:count]


def _file_bytes(spec: Any, where: str) -> bytes | BinaryIO:
    """A file's content: a string, or {text}, {base64}, {size} (deterministic filler) or {path}."""
    if isinstance(spec, str):
        return spec.encode()
    if isinstance(spec, dict):
        if "text" in spec:
            return str(spec["text"]).encode()
        if "base64" in spec:
            return base64.b64decode(spec["base64"])
        if "size" in spec:
            return Filler(int(spec["size"]))
        if "path" in spec:
            return Path(spec["path"]).read_bytes()
    raise ArchiveSeedError(f"{where}: give a string or one of {{text, base64, size, path}}")
