"""Pixel checks for ``enclave deid scan --pixels``.

Heuristics on the first frame (they point a reviewer at images):

* overlay planes embedded in unused high bits of Pixel Data (60xx,0102 Overlay Bit Position >= Bits
  Stored) that still hold set bits;
* bright, sparse, high-contrast bands along the top or bottom edge — how burnt-in demographics look
  on ultrasound, secondary capture and dose screens.

And the burnt-in text detectors of ``compliance.pixels.detect`` (:func:`burnt_in`): pydicom deid's
filter recipes (and a trust recipe), and tesseract OCR of sampled, downscaled frames, each text line
reported with its frame, bounding box and the header identifiers it matches, redacted. The header-only
reasons (Burned In Annotation, known carriers) are the scanner's own header findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataset import Dataset

from compliance.deid.report import PHI, REVIEW, PixelText

if TYPE_CHECKING:
    from compliance.deid.report import Finding
    from compliance.pixels.recipes import Recipes

# Decoding more than this is refused: a small compressed file may declare a huge image.
MAX_DECODED_BYTES = 2 * 1024**3
# A text band: between 0.3% and 25% of its pixels near the maximum, with many bright/dark edges.
BAND_FRACTION = 0.08
BRIGHT_MIN, BRIGHT_MAX = 0.003, 0.25
EDGE_DENSITY = 0.02

PixelFinding = tuple[str, str, str, str]


def check_pixels(ds: Dataset) -> Iterator[PixelFinding]:
    if "PixelData" not in ds:
        return
    needed = decoded_size(ds)
    if needed > MAX_DECODED_BYTES:
        yield (
            "(7FE0,0010)",
            "info",
            "pixels-not-decoded",
            f"pixel data not decoded: the image declares {needed} bytes decoded, more than the "
            f"{MAX_DECODED_BYTES // 1024**3} GiB the scan decodes",
        )
        return
    try:
        frame = _first_frame(ds)
    except Exception as error:  # any decoder failure is reported, not fatal
        yield "(7FE0,0010)", "info", "pixels-not-decoded", f"pixel data could not be decoded: {error}"
        return
    yield from _embedded_overlays(ds, frame)
    band = _text_band(frame)
    if band:
        yield (
            "(7FE0,0010)",
            "warning",
            "pixel-text-band",
            f"bright high-contrast band along the {band} edge, typical of burnt-in text: review the image",
        )


def decoded_size(ds: Dataset) -> int:
    """Bytes the decoded pixel data would take, from the image's declared dimensions."""
    dimensions = (
        ds.get("Rows", 0),
        ds.get("Columns", 0),
        ds.get("SamplesPerPixel", 1),
        ds.get("NumberOfFrames", 1),
    )
    size = max((int(ds.get("BitsAllocated", 8) or 8) + 7) // 8, 1)
    for value in dimensions:
        try:
            size *= max(int(value or 1), 1)
        except (TypeError, ValueError):
            continue
    return size


def _first_frame(ds: Dataset) -> np.ndarray:
    """The first frame only (a cine's other frames are not decoded here), brightness for colour."""
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        frames = 1
    if frames > 1:
        from pydicom.pixels import pixel_array  # noqa: PLC0415

        frame = np.asarray(pixel_array(ds, index=0))
    else:
        frame = np.asarray(ds.pixel_array)
    if frame.ndim == 3:  # colour: brightness is the maximum channel
        frame = frame.max(axis=-1)
    return frame


def _embedded_overlays(ds: Dataset, frame: np.ndarray) -> Iterator[PixelFinding]:
    bits_stored = int(ds.get("BitsStored", 0) or 0)
    for group in range(0x6000, 0x6020, 2):
        position = ds.get((group, 0x0102))
        if position is None or (group, 0x3000) in ds:
            continue
        bit = int(position.value)
        if bits_stored and bit >= bits_stored and np.any((frame.astype(np.int64) >> bit) & 1):
            yield (
                f"({group:04X},0102)",
                "warning",
                "embedded-overlay",
                f"overlay plane embedded in pixel bit {bit} holds set bits (may carry burnt-in graphics)",
            )


def _text_band(frame: np.ndarray) -> str:
    if frame.ndim != 2 or min(frame.shape) < 32:
        return ""
    rows = max(int(frame.shape[0] * BAND_FRACTION), 4)
    values = frame.astype(np.float64)
    peak = values.max()
    if peak <= 0:
        return ""
    for name, band in (("top", values[:rows]), ("bottom", values[-rows:])):
        bright = band >= 0.9 * peak
        fraction = bright.mean()
        edges = np.abs(np.diff(bright.astype(np.int8), axis=1)).mean()
        if BRIGHT_MIN <= fraction <= BRIGHT_MAX and edges >= EDGE_DENSITY:
            return name
    return ""


PIXEL_TAG = "(7FE0,0010)"
BURNED_IN_TAG = "(0028,0301)"
# Reasons compliance.pixels.detect finds in the header alone: the scanner's header checks report them
# (burned-in-annotation, burnt-in-risk), so the pixel stage does not repeat them.
HEADER_CODES = frozenset({"burned-in-annotation", "known-carrier"})
MAX_EXAMPLE = 160
IDENTIFIER_MESSAGE = (
    "text read in the pixel data (OCR) matches a header identifier or is an NHS number: clean the pixels "
    "(enclave anon clean-pixels) or exclude the image"
)
TEXT_MESSAGE = "text read in the pixel data (OCR) matches no header identifier: review the image"
REGION_MESSAGE = (
    "a deid recipe rule for this device or series names regions of burnt-in text: clean them "
    "(enclave anon clean-pixels) or review the image"
)
FLAG_MESSAGE = "a deid recipe rule flags this device or series for burnt-in text: review the image"


def burnt_in(
    ds: Dataset,
    recipe: Recipes,
    *,
    use_ocr: bool,
    max_frames: int,
    max_side: int,
    timeout: float,
    burned_in_no: bool = False,
) -> tuple[list[Finding], tuple[PixelText, ...]]:
    """The scan's findings and OCR text lines from ``compliance.pixels.detect.detect_burnt_in``.

    Messages are the same for every file (the report groups findings by attribute and code); what
    differs - frame, box, matched identifiers, recipe regions, the text redacted - is the example.
    ``burned_in_no``: the header says Burned In Annotation NO, which identifying text contradicts.
    """
    from compliance.pixels import detect  # noqa: PLC0415 - deid and tesseract only when asked for
    from compliance.pixels.ocr import OcrUnavailableError  # noqa: PLC0415

    try:
        found = detect.detect_burnt_in(
            ds, recipe=recipe, use_ocr=use_ocr, max_frames=max_frames, max_side=max_side, timeout=timeout
        )
    except OcrUnavailableError as error:  # e.g. tesseract timed out on this image: the rest stands
        found = detect.detect_burnt_in(ds, recipe=recipe, use_ocr=False)
        found.append(detect.Finding("ocr-failed", "info", f"OCR did not complete: {error}"))
    findings: list[Finding] = []
    lines: list[PixelText] = []
    for item in found:
        if item.code in HEADER_CODES:
            continue
        if item.code in {"ocr-identifier", "ocr-text"} and item.box is not None:
            line = PixelText(
                "burnt-in-identifier" if item.code == "ocr-identifier" else "burnt-in-text",
                item.frame or 0,
                item.box,
                item.identifiers,
                item.text,
            )
            lines.append(line)
            findings.append(_line_finding(line, item.message))
        elif item.code == "recipe-region":
            regions = " ".join(",".join(map(str, box)) for box in item.boxes) or "the whole image"
            example = _short(f"regions {regions}; {item.message.partition(': burnt-in text')[0]}")
            findings.append((PIXEL_TAG, "warning", "recipe-region", REGION_MESSAGE, REVIEW, example))
        elif item.code == "recipe-flag":
            example = _short(item.message)
            findings.append((PIXEL_TAG, "warning", "recipe-flag", FLAG_MESSAGE, REVIEW, example))
        else:  # pixels-not-decoded, ocr-failed
            findings.append((item.tag, item.severity, item.code, item.message, REVIEW, ""))
    if burned_in_no and any(line.identifiers for line in lines):
        findings.append(
            (
                BURNED_IN_TAG,
                "warning",
                "burned-in-annotation-contradicted",
                "Burned In Annotation is NO but OCR reads identifying text in the pixels: the header's "
                "claim is wrong",
                REVIEW,
                "",
            )
        )
    return findings, tuple(lines)


def _line_finding(line: PixelText, detail: str) -> Finding:
    where = f"frame {line.frame}, box {','.join(map(str, line.box))}"
    if line.identifiers:
        matched = detail.partition(" matches the header's ")[2] or ", ".join(line.identifiers)
        example = f"{where}: {line.text} (matches {matched})"
        return (PIXEL_TAG, "error", line.code, IDENTIFIER_MESSAGE, PHI, _short(example))
    return (PIXEL_TAG, "warning", line.code, TEXT_MESSAGE, REVIEW, _short(f"{where}: {line.text}"))


def _short(text: str) -> str:
    return text if len(text) <= MAX_EXAMPLE else text[: MAX_EXAMPLE - 1] + "…"
