"""alterPixels: blank rectangles of pixel data (solid fill) with numpy."""

from __future__ import annotations

import re

from pydicom.dataset import Dataset

_PARAM = re.compile(r"\s*([A-Za-z]+)\s*=\s*(-?\d+(?:\.\d+)?)\s*")


def parse_parameters(text: str) -> dict[str, float]:
    """Parse ``"l=100, t=100, r=200, b=200"`` into ``{"l": 100.0, ...}``; ValueError if malformed."""
    parameters: dict[str, float] = {}
    for chunk in text.split(","):
        match = _PARAM.fullmatch(chunk)
        if not match:
            raise ValueError(f"malformed parameter {chunk.strip()!r} in {text!r}; expected name=number")
        parameters[match.group(1).lower()] = float(match.group(2))
    return parameters


def fill_rectangle(dataset: Dataset, box: tuple[int, int, int, int], value: float) -> None:
    """Set pixels with left <= x < right and top <= y < bottom (box = left, top, right, bottom) to
    ``value`` in every frame and sample."""
    left, top, right, bottom = box
    if "PixelData" not in dataset:
        raise ValueError("the dataset has no Pixel Data (7FE0,0010)")
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_compressed:
        dataset.decompress()
    pixels = dataset.pixel_array.copy()
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    samples = int(getattr(dataset, "SamplesPerPixel", 1) or 1)
    region = (slice(top, bottom), slice(left, right))
    if frames > 1:
        region = (slice(None), *region)
    if samples > 1:
        region = (*region, slice(None))
    pixels[region] = value
    if samples > 1:
        dataset.PlanarConfiguration = 0  # pixel_array is colour-by-pixel whatever the file used
    dataset.PixelData = pixels.tobytes()
