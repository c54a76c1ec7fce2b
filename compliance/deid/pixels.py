"""Pixel checks for ``enclave deid scan --pixels`` (heuristics: they point a reviewer at images).

* overlay planes embedded in unused high bits of Pixel Data (60xx,0102 Overlay Bit Position >= Bits
  Stored) that still hold set bits;
* bright, sparse, high-contrast bands along the top or bottom edge — how burnt-in demographics look
  on ultrasound, secondary capture and dose screens.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset

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
        array = np.asarray(ds.pixel_array)
    except Exception as error:  # any decoder failure is reported, not fatal
        yield "(7FE0,0010)", "info", "pixels-not-decoded", f"pixel data could not be decoded: {error}"
        return
    frame = _first_frame(ds, array)
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


def _first_frame(ds: Dataset, array: np.ndarray) -> np.ndarray:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    frame = array[0] if frames > 1 else array
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
