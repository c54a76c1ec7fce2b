"""Synthetic DICOM with a synthetic patient's identifiers rendered into the pixels, with the ground truth.

Kinds: a GE CT dose screen saved as secondary capture, an RGB ultrasound frame, a greyscale ultrasound
cine, and a CT slice with no text. ``RENDERED`` says which header identifiers each kind draws into its
pixels, so detection can be scored (recall on rendered identifiers, precision on clean frames) and
cleaning checked. Text is drawn with Pillow's bundled font (no system font needed). Nothing here is
real patient data: the NHS number is a test number with a valid check digit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SC = "1.2.840.10008.5.1.4.1.1.7"
US = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
PATIENT = {
    "PatientName": "PRICE^MARTHA",
    "PatientID": "PX482913",
    "PatientBirthDate": "19710203",
    "AccessionNumber": "ACC77310",
}
NHS_NUMBER = "9434765919"
FONT_SIZE = 15


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _dataset(
    sop_class: str, modality: str, rows: int, columns: int, patient: dict[str, str], **attributes: object
) -> FileDataset:
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = sop_class
    uid = generate_uid()
    meta.MediaStorageSOPInstanceUID = uid
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = modality
    for keyword, value in {**patient, **attributes}.items():
        setattr(ds, keyword, value)
    ds.Rows, ds.Columns = rows, columns
    return ds


def _grey(ds: FileDataset, image: np.ndarray, bits: int) -> FileDataset:
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if bits == 16:
        ds.BitsStored, ds.HighBit = 12, 11
    ds.PixelData = image.astype(np.uint8 if bits == 8 else np.uint16).tobytes()
    return ds


def _display_name(patient: dict[str, str], separator: str) -> str:
    family, _, given = patient["PatientName"].partition("^")
    return f"{family}{separator}{given}"


def _display_date(value: str) -> str:
    return f"{value[6:8]}/{value[4:6]}/{value[:4]}"


def dose_report(patient: dict[str, str] = PATIENT) -> FileDataset:
    """A GE CT dose screen saved as secondary capture: name and ID in the top band, accession lower down."""
    ds = _dataset(
        SC,
        "CT",
        256,
        256,
        patient,
        Manufacturer="GE MEDICAL SYSTEMS",
        SeriesDescription="Dose Report",
        ImageType=["DERIVED", "SECONDARY", "SCREEN SAVE"],
        ConversionType="WSD",
    )
    image = Image.new("L", (256, 256), 0)
    draw = ImageDraw.Draw(image)
    draw.text((8, 8), _display_name(patient, "^"), fill=255, font=_font())
    draw.text((8, 30), f"ID: {patient['PatientID']}", fill=255, font=_font())
    draw.text((8, 150), "Total DLP 512", fill=255, font=_font())
    draw.text((8, 200), f"Acc {patient['AccessionNumber']}", fill=255, font=_font())
    return _grey(ds, np.asarray(image), 8)


def ultrasound(patient: dict[str, str] = PATIENT, nhs_number: str = NHS_NUMBER) -> FileDataset:
    """An RGB ultrasound frame: a grey sector with name, ID, birth date and NHS number around it."""
    ds = _dataset(US, "US", 240, 320, patient, Manufacturer="ACME", ImageType=["ORIGINAL", "PRIMARY"])
    image = Image.new("RGB", (320, 240), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.pieslice((60, 40, 260, 300), 240, 300, fill=(90, 90, 90))
    draw.text((6, 4), _display_name(patient, ", "), fill=(255, 255, 0), font=_font())
    draw.text((225, 4), patient["PatientID"], fill=(255, 255, 255), font=_font())
    birth = _display_date(patient["PatientBirthDate"])
    draw.text((6, 210), f"DOB {birth}", fill=(255, 255, 255), font=_font())
    draw.text((170, 210), nhs_number, fill=(255, 255, 255), font=_font())
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.asarray(image).tobytes()
    return ds


def ultrasound_cine(patient: dict[str, str] = PATIENT, frames: int = 4) -> FileDataset:
    """A greyscale ultrasound cine (multi-frame): the ID burnt into every frame, the sector changing."""
    ds = _dataset(
        US_MULTIFRAME, "US", 120, 200, patient, Manufacturer="ACME", ImageType=["ORIGINAL", "PRIMARY"]
    )
    stack = []
    for index in range(frames):
        image = Image.new("L", (200, 120), 0)
        draw = ImageDraw.Draw(image)
        draw.pieslice((40, 20 + index, 160, 180), 240, 300, fill=80 + 10 * index)
        draw.text((110, 100), patient["PatientID"], fill=255, font=_font())
        stack.append(np.asarray(image))
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = (0x0018, 0x1063)
    ds.FrameTime = 33.3
    return _grey(ds, np.stack(stack), 8)


def clean_ct(patient: dict[str, str] = PATIENT, seed: int = 7) -> FileDataset:
    """A CT slice without text: an elliptical body with an organ and noise, 12-bit."""
    ds = _dataset(
        CT,
        "CT",
        128,
        128,
        patient,
        Manufacturer="ACME",
        ImageType=["ORIGINAL", "PRIMARY", "AXIAL"],
        BurnedInAnnotation="NO",
    )
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:128, 0:128]
    a, b = 44 + rng.integers(0, 10), 52 + rng.integers(0, 10)
    body = ((rows - 64) / a) ** 2 + ((columns - 64) / b) ** 2 <= 1
    organ = ((rows - 60) / 14) ** 2 + ((columns - 40 - rng.integers(0, 10)) / 10) ** 2 <= 1
    image = np.zeros((128, 128)) + 24
    image[body] = 1040
    image[organ] = 1100
    noise = rng.normal(0, 12, image.shape)
    return _grey(ds, np.clip(image + noise * body, 0, 4095), 16)


KINDS: dict[str, Callable[..., FileDataset]] = {
    "dose-report": dose_report,
    "ultrasound": ultrasound,
    "clean-ct": clean_ct,
}
# The identifiers each kind renders into its pixels: what detection must recall.
RENDERED: dict[str, frozenset[str]] = {
    "dose-report": frozenset({"PatientName", "PatientID", "AccessionNumber"}),
    "ultrasound": frozenset({"PatientName", "PatientID", "PatientBirthDate", "NHS number"}),
    "ultrasound-cine": frozenset({"PatientID"}),
    "clean-ct": frozenset(),
}
