"""Synthetic "PHI everywhere" datasets: one study, several modalities, every Table E.1-1 attribute filled.

Every text value carries a recognisable marker ``PHI`` followed by the 8 hex digits of the attribute
it was put in (e.g. ``PHI00080050`` in Accession Number), so a value that survives de-identification,
or moves to another attribute, is found and traced back to where it came from. Names, dates, ages and
UIDs use fixed synthetic values; UIDs are consistent within the study and referenced across instances.
Nothing here is real patient data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from compliance.annex_e import AnnexERow, load_table

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "SC": "1.2.840.10008.5.1.4.1.1.7",
}
DEFAULT_MODALITIES = tuple(SOP_CLASSES)
SYNTHETIC_ROOT = "1.2.826.0.1.3680043.9.7433.1"  # a made-up organisation root, never a real one
PHI_MARKER = re.compile(r"PHI-?([0-9A-F]{8})")
NHS_NUMBER = "9434765919"  # an NHS test number with a valid check digit
BASE_DATE = dt.date(2024, 3, 1)
STUDY_DATE = "20240315"
BIRTH_DATE = "19710203"
ACCESSION = "PHI00080050"
PRIVATE_CREATOR = "PHI SYNTHETIC"
PRIVATE_GROUPS = (0x0009, 0x0019)

# Attributes whose value is set by the study structure, not by the per-VR filler.
STRUCTURAL_UIDS = {
    0x0020000D: "study",
    0x0020000E: "series",
    0x00080018: "instance",
    0x00200052: "frame-of-reference",
}
SKIPPED_GROUPS = frozenset({0x0000, 0x0002})  # command set and File Meta: not dataset attributes
STRUCTURAL_TAGS = frozenset({0x00100020, 0x00100010, 0x00080050, 0x00100030})


@dataclass
class SyntheticStudy:
    """The datasets of one synthetic study plus what the measurement needs to know about them."""

    datasets: list[Dataset]
    filled_rows: list[AnnexERow]
    unencodable_rows: list[AnnexERow] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)


def _first_vr(vr: str) -> str:
    return vr.split(" or ", maxsplit=1)[0].strip()


def text_value(tag: int, vr: str) -> str:
    """A recognisable PHI value for a text VR that fits the VR's maximum length."""
    marker = f"PHI{tag:08X}"
    values = {
        "PN": f"{marker}^SYNTHETIC^PATIENT",
        "SH": marker,
        "CS": marker,
        "AE": marker,
        "LO": f"{marker} Mrs Jane Smith 12 Acacia Ave",
        "ST": f"{marker} seen 03/02/2024 by Dr Jones",
        "LT": f"{marker} seen 03/02/2024 by Dr Jones",
        "UT": f"{marker} seen 03/02/2024 by Dr Jones",
        "UC": f"{marker} Jane Smith",
        "UR": f"https://phi.example/{marker}",
    }
    return values[vr]


def synthetic_date(index: int) -> str:
    """Dates spread over 20 days, so a consistent shift is told apart from one dummy date everywhere."""
    return (BASE_DATE + dt.timedelta(days=index % 20)).strftime("%Y%m%d")


def _value_for(tag: int, vr: str, uid: str, reference: Dataset, index: int = 0) -> object | None:
    fixed: dict[str, object] = {
        "DA": synthetic_date(index),
        "DT": synthetic_date(index) + "101530",
        "TM": "101530",
        "AS": "053Y",
        "DS": "71.5",
        "IS": "42",
        "US": 7,
        "SS": 7,
        "UL": 7,
        "SL": 7,
        "FL": 7.0,
        "FD": 7.0,
        "UI": uid,
    }
    if vr in fixed:
        return fixed[vr]
    if vr in {"PN", "SH", "CS", "AE", "LO", "ST", "LT", "UT", "UC", "UR"}:
        return text_value(tag, vr)
    if vr in {"OB", "OW", "UN"}:
        return f"PHI{tag:08X}\0".encode()  # DICOM values have even length; a PACS rejects odd ones
    if vr == "SQ":
        return Sequence([_sequence_item(tag, reference)])
    return None


def _sequence_item(tag: int, reference: Dataset) -> Dataset:
    item = Dataset()
    item.PatientName = f"PHI{tag:08X}^NESTED"
    item.ReferencedSOPClassUID = reference.SOPClassUID
    item.ReferencedSOPInstanceUID = reference.SOPInstanceUID
    return item


def _uid(*parts: int) -> str:
    return ".".join([SYNTHETIC_ROOT, *map(str, parts)])


def _base_dataset(modality: str, series: int, instance: int) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = SOP_CLASSES[modality]
    ds.SOPInstanceUID = _uid(3, series, instance)
    ds.StudyInstanceUID = _uid(1)
    ds.SeriesInstanceUID = _uid(2, series)
    ds.FrameOfReferenceUID = _uid(4)
    ds.Modality = modality
    ds.PatientName = "SMITH^JANE^PHI00100010"
    ds.PatientID = NHS_NUMBER
    ds.PatientBirthDate = BIRTH_DATE
    ds.AccessionNumber = ACCESSION
    ds.SeriesNumber = series
    ds.InstanceNumber = instance
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(64))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


def _add_private_and_repeating(ds: Dataset) -> None:
    for group in PRIVATE_GROUPS:
        block = ds.private_block(group, PRIVATE_CREATOR, create=True)
        block.add_new(0x01, "LO", f"PHI{(group << 16) | 0x1001:08X} private name Jane Smith")
        block.add_new(0x02, "DA", STUDY_DATE)
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", bytes(8))
    ds.add_new(0x60004000, "LT", "PHI60004000 overlay note for Jane Smith")
    ds.add_new(0x50003000, "OB", b"PHI50003000\x00")


def build_study(
    modalities: tuple[str, ...] = DEFAULT_MODALITIES, instances_per_series: int = 2
) -> SyntheticStudy:
    """One patient, one study, one series per modality; every encodable table attribute filled.

    The datasets are built once per process and shared: callers copy them before changing them.
    """
    datasets, filled, unencodable = _build_datasets(modalities, instances_per_series)
    variables = {
        "project": "SYNTH_PROJECT",
        "subject": "SYNTH_SUBJECT",
        "session": ACCESSION,
        "modalityLabel": "",
    }
    return SyntheticStudy(list(datasets), list(filled), list(unencodable), variables)


@cache
def _build_datasets(
    modalities: tuple[str, ...], instances_per_series: int
) -> tuple[tuple[Dataset, ...], tuple[AnnexERow, ...], tuple[AnnexERow, ...]]:
    datasets = [
        _base_dataset(modality, series, instance)
        for series, modality in enumerate(modalities, start=1)
        for instance in range(1, instances_per_series + 1)
    ]
    first = datasets[0]
    filled: list[AnnexERow] = []
    unencodable: list[AnnexERow] = []
    for index, row in enumerate(load_table()):
        tag = row.tag_value
        if tag is None:
            continue
        if tag >> 16 in SKIPPED_GROUPS or tag in STRUCTURAL_UIDS or tag in STRUCTURAL_TAGS:
            filled.append(row)
            continue
        vr = _first_vr(row.vr or "")
        if _value_for(tag, vr, "", first) is None:
            unencodable.append(row)
            continue
        for position, ds in enumerate(datasets):
            reference = first if position else datasets[-1]
            ds.add_new(
                tag,
                vr,
                _value_for(tag, vr, _uid(5, index, position // instances_per_series), reference, index),
            )
        filled.append(row)
    for ds in datasets:
        _add_private_and_repeating(ds)
    return tuple(datasets), tuple(filled), tuple(unencodable)
