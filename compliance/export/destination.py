"""Ask the destination node, by C-FIND, how many instances of each series it holds (pynetdicom, Study Root).

One association per question; per series a SERIES-level C-FIND on StudyInstanceUID (when XNAT knows it) and
SeriesInstanceUID, returning NumberOfSeriesRelatedInstances. A node that leaves that attribute out of its
answers is asked again at IMAGE level and the matches are counted. A series the node does not hold counts 0.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

from compliance.export.errors import DestinationError

PENDING = (0xFF00, 0xFF01)
MODEL = StudyRootQueryRetrieveInformationModelFind


@dataclass(frozen=True)
class Destination:
    """Where arrival is checked: the PACS entry's AE title, host and port, and our calling AE."""

    label: str
    ae_title: str
    host: str
    port: int
    calling_ae: str = "ENCLAVE"
    timeout: float = 30.0

    @property
    def where(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


def series_counts(destination: Destination, study_uid: str, series_uids: Iterable[str]) -> dict[str, int]:
    """Series Instance UID -> instances the node holds (0 for a series it does not know)."""
    wanted = list(dict.fromkeys(series_uids))
    if not wanted:
        return {}
    with _association(destination) as assoc:
        return {uid: _series_count(destination, assoc, study_uid, uid) for uid in wanted}


def _series_count(destination: Destination, assoc: Any, study_uid: str, series_uid: str) -> int:
    identifier = _identifier("SERIES", study_uid, series_uid)
    identifier.NumberOfSeriesRelatedInstances = None
    matches = _find(destination, assoc, identifier)
    if not matches:
        return 0
    counts = [match.get("NumberOfSeriesRelatedInstances") for match in matches]
    if all(count not in (None, "") for count in counts):
        return sum(int(count) for count in counts)
    image = _identifier("IMAGE", study_uid, series_uid)
    image.SOPInstanceUID = None
    return len({str(match.get("SOPInstanceUID") or "") for match in _find(destination, assoc, image)} - {""})


def _identifier(level: str, study_uid: str, series_uid: str) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    if study_uid:
        identifier.StudyInstanceUID = study_uid
    identifier.SeriesInstanceUID = series_uid
    return identifier


def _find(destination: Destination, assoc: Any, identifier: Dataset) -> list[Dataset]:
    found: list[Dataset] = []
    for status, match in assoc.send_c_find(identifier, MODEL):
        code = getattr(status, "Status", None)
        if code is None:
            raise DestinationError(
                f"C-FIND at {destination.where}: no answer (timeout or association aborted)"
            )
        if code in PENDING:
            if match is not None:
                found.append(match)
            continue
        if code != 0x0000:
            raise DestinationError(
                f"C-FIND at {destination.where} (level {identifier.QueryRetrieveLevel}) answered "
                f"status 0x{code:04X}"
            )
    return found


@contextlib.contextmanager
def _association(destination: Destination) -> Iterator[Any]:
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    ae = AE(ae_title=destination.calling_ae)
    ae.connection_timeout = ae.acse_timeout = destination.timeout
    ae.dimse_timeout = ae.network_timeout = destination.timeout
    ae.add_requested_context(MODEL)
    try:
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    except (OSError, ValueError) as error:
        raise DestinationError(f"cannot reach {destination.where} for C-FIND: {error}") from error
    if assoc.is_rejected:
        raise DestinationError(
            f"{destination.where} rejected the C-FIND association from calling AE {destination.calling_ae} "
            "(does the node accept that calling AE, its own AE title and Study Root queries?)"
        )
    if not assoc.is_established:
        raise DestinationError(
            f"cannot reach {destination.where} for C-FIND: no association (is the node up and listening?)"
        )
    try:
        yield assoc
    finally:
        with contextlib.suppress(Exception):
            assoc.release()
