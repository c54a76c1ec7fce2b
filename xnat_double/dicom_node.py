"""A DICOM node outside XNAT for tests and rehearsals: a pynetdicom Storage SCP with Study Root C-FIND.

It stands in for a destination that DQR export sends to (an AI-evaluation node) where Debian's Orthanc is
not wanted (a fast test) or not available. It is not part of XNAT and follows no XNAT source: it keeps
every instance it is sent in memory (the last copy of a SOP Instance UID wins, as a PACS does) and answers
C-FIND at STUDY, SERIES and IMAGE level on the unique keys it is given (StudyInstanceUID,
SeriesInstanceUID, SOPInstanceUID), with NumberOfStudyRelatedInstances / NumberOfSeriesRelatedInstances
computed from what it holds. It binds 127.0.0.1 only.

```python
node = DicomNode("AIEVAL", pick_port()).start()
...                                   # C-STORE to 127.0.0.1:node.port, called AE AIEVAL
node.series_count(series_uid)         # instances held for a series
node.stop()
```
"""

from __future__ import annotations

import logging
import random
import socket
import threading
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

LEVEL_KEYS = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
PARENT_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
COUNTS = {"STUDY": "NumberOfStudyRelatedInstances", "SERIES": "NumberOfSeriesRelatedInstances"}
PORT_RANGE = (22000, 22999)


def pick_port(low: int = PORT_RANGE[0], high: int = PORT_RANGE[1]) -> int:
    """A TCP port of 127.0.0.1 in [low, high] that nothing listens on now (tests keep to 22000-22999)."""
    start = random.randint(low, high)
    for offset in range(high - low + 1):
        port = low + (start - low + offset) % (high - low + 1)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port on 127.0.0.1 between {low} and {high}")


class DicomNode:
    """Storage SCP + Study Root C-FIND SCP answering to ``ae_title`` on 127.0.0.1:``port``."""

    def __init__(self, ae_title: str, port: int, *, require_called_ae: bool = True) -> None:
        self.ae_title = ae_title
        self.port = port
        self.calling_aes: list[str] = []  # the calling AE of every association, in order
        self.associations = 0  # associations that stored at least one instance
        self._instances: dict[str, Dataset] = {}  # SOP Instance UID -> header (pixels dropped)
        self._transfer_syntaxes: dict[str, str] = {}  # SOP Instance UID -> transfer syntax received
        self._storing: set[int] = set()
        self._lock = threading.Lock()
        self._server: Any = None
        self._require_called_ae = require_called_ae

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> DicomNode:
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
        ae = AE(ae_title=self.ae_title)
        ae.require_called_aet = self._require_called_ae
        ae.supported_contexts = AllStoragePresentationContexts
        ae.add_supported_context(Verification)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        handlers = [
            (evt.EVT_C_STORE, self._store),
            (evt.EVT_C_FIND, self._find),
            (evt.EVT_ACCEPTED, self._accepted),
        ]
        self._server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> DicomNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what it holds -------------------------------------------------------------------------------
    def series_count(self, series_uid: str) -> int:
        with self._lock:
            return sum(1 for ds in self._instances.values() if ds.get("SeriesInstanceUID") == series_uid)

    def instance_uids(self) -> set[str]:
        with self._lock:
            return set(self._instances)

    def transfer_syntax(self, sop_instance_uid: str) -> str | None:
        with self._lock:
            return self._transfer_syntaxes.get(sop_instance_uid)

    def headers(self) -> list[Dataset]:
        with self._lock:
            return list(self._instances.values())

    def clear(self) -> None:
        """Forget every instance, calling AE and association (a fresh node, still listening)."""
        with self._lock:
            self._instances.clear()
            self._transfer_syntaxes.clear()
            self.calling_aes.clear()
            self._storing.clear()
            self.associations = 0

    # --- handlers ------------------------------------------------------------------------------------
    def _accepted(self, event: Any) -> None:
        with self._lock:
            self.calling_aes.append(str(event.assoc.requestor.ae_title).strip())

    def _store(self, event: Any) -> int:
        dataset = event.dataset
        uid = str(dataset.get("SOPInstanceUID") or "")
        if not uid:
            return 0xC000
        header = Dataset()
        for element in dataset:
            if element.tag.group != 0x7FE0:
                header.add(element)
        with self._lock:
            self._instances[uid] = header
            self._transfer_syntaxes[uid] = str(event.context.transfer_syntax)
            if id(event.assoc) not in self._storing:
                self._storing.add(id(event.assoc))
                self.associations += 1
        return 0x0000

    def _find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        identifier = event.identifier
        level = str(identifier.get("QueryRetrieveLevel") or "").upper()
        key = LEVEL_KEYS.get(level)
        if key is None:
            yield 0xC000, None  # unable to process: unknown level
            return
        groups = self._matches(identifier, key)
        for members in groups.values():
            yield 0xFF00, _answer(identifier, level, members)
        yield 0x0000, None

    def _matches(self, identifier: Dataset, key: str) -> dict[str, list[Dataset]]:
        wanted = {
            keyword: str(identifier.get(keyword) or "")
            for keyword in PARENT_KEYS
            if str(identifier.get(keyword) or "")
        }
        groups: dict[str, list[Dataset]] = {}
        with self._lock:
            for dataset in self._instances.values():
                if all(str(dataset.get(keyword) or "") == value for keyword, value in wanted.items()):
                    groups.setdefault(str(dataset.get(key) or ""), []).append(dataset)
        return groups


def _answer(identifier: Dataset, level: str, members: list[Dataset]) -> Dataset:
    first = members[0]
    answer = Dataset()
    answer.QueryRetrieveLevel = level
    for element in identifier:
        keyword = element.keyword
        if not keyword or keyword in ("QueryRetrieveLevel", *COUNTS.values()):
            continue
        setattr(answer, keyword, first.get(keyword, ""))
    count_keyword = COUNTS.get(level)
    if count_keyword and count_keyword in identifier:
        setattr(answer, count_keyword, len(members))
    return answer
