"""The meeting point of the DQR import scheduler and the DICOM receivers.

A DQR import request that has issued its C-MOVE waits here for its study; the receiver that gets the
study's instances asks which request they belong to (XNAT: ``DqrDicomObjectIdentifier`` looks the study
up among the user's open requests, FW plugins dicom-query-retrieve
``…/dqr/dicom/DqrDicomObjectIdentifier.java``) and reports what it filed. The scheduler owns the
requests; the receivers only read a target and report counts. A lock of its own keeps them apart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class ImportTarget:
    """Where the instances of one moved study go, as the import request named it."""

    request_id: int
    study_instance_uid: str
    receiver_ae: str
    project: str
    subject: str = ""
    session: str = ""
    # DicomEdit text of the request's relabel map (XNAT builds a remapping script from it).
    remapping_script: str = ""
    received_files: int = 0
    refused_files: int = 0
    errors: list[str] = field(default_factory=list)


_lock = threading.Lock()
_waiting: dict[tuple[str, str], ImportTarget] = {}


def expect(target: ImportTarget) -> None:
    """The scheduler issued a C-MOVE for this study to this receiver."""
    with _lock:
        _waiting[(target.receiver_ae, target.study_instance_uid)] = target


def target_for(receiver_ae: str, study_instance_uid: str) -> ImportTarget | None:
    """The open request the receiver's study belongs to, or None (not a DQR import)."""
    with _lock:
        return _waiting.get((receiver_ae, study_instance_uid))


def record(
    receiver_ae: str, study_instance_uid: str, *, filed: int = 0, refused: int = 0, error: str = ""
) -> None:
    """The receiver filed (or refused) instances of a study it was expecting."""
    with _lock:
        target = _waiting.get((receiver_ae, study_instance_uid))
        if target is None:
            return
        target.received_files += filed
        target.refused_files += refused
        if error:
            target.errors.append(error)


def finish(receiver_ae: str, study_instance_uid: str) -> ImportTarget | None:
    """The scheduler is done with the request (RECEIVED or FAILED): stop expecting its study."""
    with _lock:
        return _waiting.pop((receiver_ae, study_instance_uid), None)


def clear() -> None:
    """A reset of the double forgets every open request."""
    with _lock:
        _waiting.clear()
