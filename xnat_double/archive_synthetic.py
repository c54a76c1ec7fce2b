"""Small synthetic DICOM instances for tests and benchmarks of the data path (no PHI, tiny pixel data).

``synthetic_series(study_uid, series_number, count, modality=…, description=…)`` returns datasets ready for
``archive_ingest.file_into_archive`` / ``receive_study`` or for a C-STORE.
"""

from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SOP_CLASS_BY_MODALITY = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "OT": "1.2.840.10008.5.1.4.1.1.7",  # secondary capture (e.g. a dose report screen)
    "SR": "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
}


def synthetic_instance(
    study_uid: str,
    series_uid: str,
    series_number: int,
    instance_number: int,
    *,
    modality: str = "CT",
    description: str = "AXIAL",
    accession_number: str = "ACC0001",
    study_date: str = "20240105",
) -> Dataset:
    """One 4x4 8-bit image (or a header-only SR) of a synthetic patient."""
    ds = Dataset()
    ds.SOPClassUID = SOP_CLASS_BY_MODALITY.get(modality, SOP_CLASS_BY_MODALITY["OT"])
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.SeriesDescription = description
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.AccessionNumber = accession_number
    ds.PatientID = "SYNTH0001"
    ds.PatientName = "SYNTHETIC^PATIENT"
    if modality != "SR":
        ds.Rows = ds.Columns = 4
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = bytes(range(16))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def synthetic_series(
    study_uid: str,
    series_number: int,
    count: int,
    *,
    modality: str = "CT",
    description: str = "AXIAL",
    **fields: str,
) -> list[Dataset]:
    """``count`` instances of one new series of the study."""
    series_uid = generate_uid()
    return [
        synthetic_instance(
            study_uid, series_uid, series_number, number, modality=modality, description=description, **fields
        )
        for number in range(1, count + 1)
    ]
