"""The parts of `enclave export` on their own: the route table's export shapes, which scans are sent (DQR
sends a scan's first DICOM-format resource, the release gate is asked about exactly that one), and the wait
for arrival (a node that never receives anything waits for the timeout, not the settle time)."""

from __future__ import annotations

from typing import Any

import pytest

from compliance.export import runner
from compliance.export.destination import Destination
from compliance.export.runner import ExportRun, Settings
from compliance.export.selection import HELD, SEND, SKIPPED, choose
from compliance.export.xnat_io import PacsEntry, ScanResource, ScanRow, SessionRef
from compliance.pixels.gate import ReleaseMarker
from compliance.progress import Progress
from compliance.xnat import routes

CLEANING = ReleaseMarker(pixel_cleaning=True)


def scan(
    *resources: tuple[str, str, int], modality: str = "CT", kind: str = "Axial", uid: str = "1.2.3"
) -> ScanRow:
    return ScanRow(
        id="7",
        xsi_type="xnat:ctScanData" if modality == "CT" else "xnat:otherDicomScanData",
        type=kind,
        modality=modality,
        series_uid=uid,
        frames=3,
        resources=tuple(ScanResource(label, fmt, files) for label, fmt, files in resources),
    )


def test_the_route_table_builds_the_export_query_and_reads_its_answers():
    assert routes.export_query(4, "XNAT_E00001", ["1", 2]) == {
        "pacsId": "4",
        "session": "XNAT_E00001",
        "scansToExport": ["1", "2"],
    }
    assert routes.parse_export_answer({"session": "E1", "scans": ["1", "2"], "workflow": 17}) == (
        "E1",
        ["1", "2"],
        17,
    )
    with pytest.raises(ValueError, match="not a DQR export answer"):
        routes.parse_export_answer([])
    entry = routes.parse_pacs_entry({"id": 3, "aeTitle": "AIEVAL", "host": "h", "storable": True})
    assert (entry["label"], entry["port"], entry["storable"], entry["queryable"]) == (None, 104, True, False)


@pytest.mark.parametrize(
    ("row", "marker", "decision", "reason"),
    [
        (scan(("DICOM", "DICOM", 3)), None, SEND, "no cleaning required"),
        (
            scan(("DICOM", "DICOM", 1), ("DICOM_CLEANED", "DICOM", 1), modality="OT"),
            CLEANING,
            HELD,
            "cannot send",
        ),
        (scan(("DICOM", "DICOM", 1), modality="OT", kind="Dose Report"), CLEANING, HELD, "no DICOM_CLEANED"),
        (
            scan(("DICOM_CLEANED", "DICOM", 1), ("NIFTI", "NIFTI", 1), modality="OT"),
            CLEANING,
            SEND,
            "cleaned",
        ),
        (
            scan(("DICOM", "DICOM", 2), ("DEFACED", "DICOM", 2)),
            ReleaseMarker(defacing=True),
            HELD,
            "cannot send",
        ),
        (scan(("NIFTI", "NIFTI", 1)), None, SKIPPED, "no DICOM-format resource"),
        (scan(("DICOM", "DICOM", 0)), None, SKIPPED, "has no files"),
        (scan(("DICOM", "DICOM", 3), uid=""), None, SKIPPED, "no Series Instance UID"),
    ],
    ids=["plain", "cleaned-exists", "not-cleaned", "only-cleaned", "defacing", "no-dicom", "empty", "no-uid"],
)
def test_which_scans_are_sent(row, marker, decision, reason):
    choice = choose(row, marker or ReleaseMarker())
    assert choice.decision == decision and reason in choice.reason
    assert choice.expected == (row.resources[0].files if decision == SEND else None)


class FakeXnat:
    def __init__(self) -> None:
        self.exports: list[list[str]] = []

    def scans(self, session: SessionRef) -> list[ScanRow]:
        return [scan(("DICOM", "DICOM", 3))]

    def export(self, pacs: PacsEntry, session: SessionRef, scan_ids: list[str]) -> int:
        self.exports.append(scan_ids)
        return 9


def test_nothing_arriving_waits_for_the_timeout_not_the_settle_time(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(runner, "series_counts", lambda destination, study, uids: dict.fromkeys(uids, 0))
    settings = Settings(poll_interval=1, settle=2, timeout=10)
    xnat: Any = FakeXnat()
    run = ExportRun(
        xnat,
        PacsEntry(1, "AI", "AIEVAL", "127.0.0.1", 22001, True),
        Destination("AI", "AIEVAL", "127.0.0.1", 22001),
        settings,
        Progress(),
        clock=lambda: now[0],
        sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
    )
    [outcome] = run.run([SessionRef("E1", "S01", "P")], ReleaseMarker())
    assert xnat.exports == [["7"]] and outcome.workflow == 9
    assert outcome.ended_by == "timeout" and outcome.status == runner.INCOMPLETE and now[0] >= 10
    assert "3 of 3 instances missing at AIEVAL" in outcome.findings[0]
