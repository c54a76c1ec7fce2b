"""The release gate: a project marked as requiring pixel cleaning (or defacing) refuses originals."""

from __future__ import annotations

import pytest

from compliance.pixels.gate import (
    ReleaseMarker,
    carries_burnt_in_text,
    marker_from_keywords,
    releasable,
    release_decisions,
)

CLEANING = ReleaseMarker(pixel_cleaning=True)


def scan(scan_id: str, xsi_type: str, description: str, *resources, **extra) -> dict:
    return {"ID": scan_id, "xsiType": xsi_type, "type": description, "resources": list(resources), **extra}


SESSION = [
    scan("1", "xnat:ctScanData", "HEAD 5mm", {"label": "DICOM", "file_count": 40}, "NIFTI"),
    scan("2", "xnat:ctScanData", "Dose Report", {"label": "DICOM", "file_count": 1}),
    scan("3", "xnat:usScanData", "Abdomen", "DICOM", {"label": "DICOM_CLEANED", "file_count": 12}),
    scan("4", "xnat:scScanData", "Screen capture", "DICOM", {"label": "DICOM_CLEANED", "file_count": 0}),
    scan("5", "xnat:otherDicomScanData", "", "DICOM", "DICOM_CLEANED", "PIXEL_CLEAN_REPORT"),
]


def test_without_a_marker_every_scan_is_released_as_asked():
    assert releasable(SESSION, None) == {scan["ID"]: "DICOM" for scan in SESSION}
    assert releasable(SESSION, ReleaseMarker(), "NIFTI") == {"1": "NIFTI"}


def test_a_marked_project_releases_affected_scans_only_through_their_cleaned_resource():
    decisions = {d.scan: d for d in release_decisions(SESSION, CLEANING)}
    assert decisions["1"].allowed and decisions["1"].resource == "DICOM"  # a CT slice: not affected
    assert not decisions["2"].allowed and decisions["2"].by_policy  # dose report, never cleaned
    assert "DICOM_CLEANED" in decisions["2"].reason
    assert decisions["3"].resource == "DICOM_CLEANED" and "instead of DICOM" in decisions["3"].reason
    assert not decisions["4"].allowed and "with files" in decisions["4"].reason  # an empty cleaned resource
    assert decisions["5"].resource == "DICOM_CLEANED"  # listing without counts: present counts
    assert releasable(SESSION, CLEANING) == {"1": "DICOM", "3": "DICOM_CLEANED", "5": "DICOM_CLEANED"}


def test_nifti_of_an_affected_scan_is_refused_unless_a_cleaned_nifti_exists():
    us = [scan("3", "xnat:usScanData", "Abdomen", "DICOM", "DICOM_CLEANED", "NIFTI")]
    [decision] = release_decisions(us, CLEANING, "NIFTI")
    assert not decision.allowed and decision.by_policy and "NIFTI_CLEANED" in decision.reason
    us[0]["resources"].append("NIFTI_CLEANED")
    assert releasable(us, CLEANING, "NIFTI") == {"3": "NIFTI_CLEANED"}
    assert releasable(SESSION, CLEANING, "PIXEL_CLEAN_REPORT") == {"5": "PIXEL_CLEAN_REPORT"}


def test_all_marker_applies_to_every_scan_and_defacing_to_mr_and_ct():
    everything = marker_from_keywords("oncology enclave-requires-pixel-cleaning-all")
    assert everything.pixel_cleaning_all and everything.pixel_cleaning
    assert releasable(SESSION, everything) == {"3": "DICOM_CLEANED", "5": "DICOM_CLEANED"}
    defacing = ReleaseMarker(defacing=True)
    head = [
        scan("7", "xnat:mrScanData", "T1 MPRAGE", "DICOM", "NIFTI"),
        scan("8", "xnat:mrScanData", "T2", "DICOM", {"label": "DEFACED_8", "file_count": 1}),
        scan("9", "xnat:ctScanData", "Dose Report", "DICOM"),  # a screen: no face to remove
    ]
    decisions = {d.scan: d for d in release_decisions(head, defacing, "NIFTI")}
    assert not decisions["7"].allowed and decisions["7"].by_policy
    assert decisions["8"].resource == "DEFACED_8"
    assert not decisions["9"].allowed and not decisions["9"].by_policy  # no NIFTI: merely missing


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        (None, ReleaseMarker()),
        ("", ReleaseMarker()),
        ("cardiac, ENCLAVE-REQUIRES-PIXEL-CLEANING", ReleaseMarker(pixel_cleaning=True)),
        (["enclave-requires-defacing"], ReleaseMarker(defacing=True)),
        ("enclave-requires-pixel-cleaningx", ReleaseMarker()),  # a near miss is not the marker
    ],
)
def test_the_marker_is_read_from_the_project_keywords(keywords, expected):
    assert marker_from_keywords(keywords) == expected


def test_kinds_that_carry_burnt_in_text():
    assert carries_burnt_in_text({"modality": "US"})
    assert carries_burnt_in_text({"xsiType": "xnat:ctScanData", "series_description": "Patient Protocol"})
    assert not carries_burnt_in_text({"xsiType": "xnat:mrScanData", "type": "T1 MPRAGE"})
