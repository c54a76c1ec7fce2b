"""Detection of burnt-in text in DICOM pixel data: header flags, known carriers, deid recipes, OCR.

``detect_burnt_in(dataset)`` returns one ``Finding`` per reason an instance is likely to carry burnt-in
text, strongest first:

* ``burned-in-annotation`` — (0028,0301) Burned In Annotation is YES;
* ``known-carrier`` — a SOP class, modality, image type or series description known to carry text
  (secondary capture, ultrasound, screen saves, dose reports, patient protocols);
* ``recipe-region`` / ``recipe-flag`` — a LABEL of deid's filter recipe (and a trust recipe) matches
  the header, with the regions it names when it names some;
* ``ocr-identifier`` / ``ocr-text`` — tesseract reads text in a sampled frame; the finding carries the
  line's bounding box and which header identifiers (name, ID, birth date, accession, NHS number) it
  matches, always redacted.

An instance with none of them gets no finding. Work is bounded: at most ``max_frames`` frames are
decoded (first, middle, last), each downscaled for OCR to ``max_side`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from compliance.deid.patterns import redact
from compliance.pixels import identifiers as ids
from compliance.pixels import ocr
from compliance.pixels.recipes import Recipes, known_carriers, load_recipe, recipe_hits

MAX_FRAMES = 3
MAX_DECODED_BYTES = 2 * 1024**3  # a small compressed file may declare a huge image: decoding refused
PIXEL_TAG = "(7FE0,0010)"
BURNED_IN_TAG = "(0028,0301)"


@dataclass(frozen=True)
class Finding:
    """One reason to think an instance carries burnt-in text. Never holds an identifier's value."""

    code: str  # burned-in-annotation, known-carrier, recipe-region, recipe-flag, ocr-identifier, ocr-text
    severity: str  # "error" (identifying text read, or the header says so), "warning" (review), "info"
    message: str  # one line, redacted
    tag: str = PIXEL_TAG
    frame: int | None = None  # 0-based frame index of an OCR finding
    box: ocr.Box | None = None  # x0, y0, x1, y1 in the frame's pixels (x1, y1 exclusive)
    identifiers: tuple[str, ...] = ()  # header attributes the text matches, e.g. ("PatientName",)
    text: str = ""  # what OCR read, each word redacted
    boxes: tuple[ocr.Box, ...] = field(default=())  # recipe-region: the regions the recipe names

    def as_tuple(self) -> tuple[str, str, str, str]:
        """(tag, severity, code, message): the shape of ``compliance.deid.pixels`` findings."""
        return (self.tag, self.severity, self.code, self.message)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "tag": self.tag,
            "message": self.message,
            "frame": self.frame,
            "box": list(self.box) if self.box else None,
            "boxes": [list(box) for box in self.boxes],
            "identifiers": list(self.identifiers),
            "text": self.text,
        }


def detect_burnt_in(
    dataset: Dataset,
    *,
    recipe: Recipes | None = None,
    recipe_file: Path | None = None,
    use_ocr: bool = True,
    max_frames: int = MAX_FRAMES,
    max_side: int = ocr.MAX_SIDE,
    timeout: float = ocr.TIMEOUT_SECONDS,
) -> list[Finding]:
    """Findings of likely burnt-in text in ``dataset`` (read with its pixel data); [] when none.

    ``recipe`` is a loaded deid recipe (``compliance.pixels.recipes.load_recipe``; load it once for many
    files), else ``recipe_file`` is read after deid's shipped recipe, else the shipped recipe alone.
    With ``use_ocr`` (the default) sampled frames are read by tesseract; ``ocr.OcrUnavailableError``
    when tesseract is missing. Decoding failures are reported as an ``info`` finding, not raised.
    """
    findings = header_findings(dataset)
    findings += recipe_findings(dataset, recipe if recipe is not None else load_recipe(recipe_file))
    if use_ocr and "PixelData" in dataset:
        findings += ocr_findings(dataset, max_frames=max_frames, max_side=max_side, timeout=timeout)
    return findings


def header_findings(dataset: Dataset) -> list[Finding]:
    findings = []
    if str(dataset.get("BurnedInAnnotation", "") or "").strip().upper() == "YES":
        findings.append(
            Finding(
                "burned-in-annotation",
                "error",
                "Burned In Annotation is YES: the pixels carry burnt-in text",
                tag=BURNED_IN_TAG,
            )
        )
    findings.extend(
        Finding("known-carrier", "warning", f"{reason}; review the pixels or clean them", tag="(0008,0016)")
        for reason in known_carriers(dataset)
    )
    return findings


def recipe_findings(dataset: Dataset, recipe: Recipes) -> list[Finding]:
    findings = []
    for hit in recipe_hits(dataset, recipe):
        regions = "the whole image" if hit.whole_image else ", ".join(_box_text(box) for box in hit.boxes)
        if hit.boxes or hit.whole_image:
            findings.append(
                Finding(
                    "recipe-region",
                    "warning",
                    f"deid recipe {hit.group} rule matches ({hit.label}): burnt-in text expected in "
                    f"{regions}",
                    boxes=hit.boxes,
                )
            )
        else:
            findings.append(
                Finding(
                    "recipe-flag",
                    "warning",
                    f"deid recipe {hit.group} rule matches ({hit.label}): review the pixels",
                )
            )
    return findings


def frame_count(dataset: Dataset) -> int:
    try:
        return max(int(dataset.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        return 1


def sampled_frames(count: int, max_frames: int = MAX_FRAMES) -> list[int]:
    """First, middle and last (up to ``max_frames``, spread evenly) of ``count`` frames."""
    if count <= max_frames:
        return list(range(count))
    if max_frames <= 1:
        return [0]
    return sorted({round(i * (count - 1) / (max_frames - 1)) for i in range(max_frames)})


def decoded_size(dataset: Dataset) -> int:
    size = max((int(dataset.get("BitsAllocated", 8) or 8) + 7) // 8, 1)
    for keyword in ("Rows", "Columns", "SamplesPerPixel"):
        size *= max(int(dataset.get(keyword, 1) or 1), 1)
    return size * frame_count(dataset)


def decode_frame(dataset: Dataset, index: int) -> np.ndarray:
    """One decoded frame (rows, columns[, samples]); colour as RGB."""
    from pydicom.pixels import pixel_array  # noqa: PLC0415

    if frame_count(dataset) == 1:
        return np.asarray(dataset.pixel_array)
    return np.asarray(pixel_array(dataset, index=index))


def ocr_findings(
    dataset: Dataset,
    *,
    max_frames: int = MAX_FRAMES,
    max_side: int = ocr.MAX_SIDE,
    timeout: float = ocr.TIMEOUT_SECONDS,
) -> list[Finding]:
    ocr.tesseract_path()  # missing tesseract is an error, not "no text"
    if decoded_size(dataset) > MAX_DECODED_BYTES:
        return [
            Finding("pixels-not-decoded", "info", "pixel data not decoded for OCR: the image is too large")
        ]
    known = ids.header_identifiers(dataset)
    findings = []
    for index in sampled_frames(frame_count(dataset), max_frames):
        try:
            frame = decode_frame(dataset, index)
        except Exception as error:  # any decoder failure is reported, not fatal
            return [
                Finding("pixels-not-decoded", "info", f"pixel data could not be decoded for OCR: {error}")
            ]
        findings += read_text(frame, index, known, max_side=max_side, timeout=timeout)
    return findings


def read_text(
    frame: np.ndarray,
    index: int,
    known: list[ids.Identifier],
    *,
    offset: tuple[int, int] = (0, 0),
    max_side: int = ocr.MAX_SIDE,
    timeout: float = ocr.TIMEOUT_SECONDS,
) -> list[Finding]:
    """One finding per text line tesseract reads in ``frame``: lines matching a header identifier at
    any confidence, other lines from their confident words only. ``offset`` (x, y) shifts the boxes
    (a crop's place in its frame)."""
    findings = []
    words = ocr.read_words(frame, max_side=max_side, timeout=timeout, min_confidence=0.0)
    for line in ocr.lines(words):
        if not (ids.matching([line.text], known) or ids.nhs_numbers([line.text])):
            confident = tuple(word for word in line.words if word.confidence >= ocr.MIN_CONFIDENCE)
            if not confident:
                continue
            line = ocr.Line(confident)  # noqa: PLW2901 - the confident part of the line
        x0, y0, x1, y1 = line.box
        box = (x0 + offset[0], y0 + offset[1], x1 + offset[0], y1 + offset[1])
        findings.append(text_finding(line.text, box, index, known))
    return findings


def text_finding(text: str, box: ocr.Box, frame: int, known: list[ids.Identifier]) -> Finding:
    matched = ids.matching([text], known)
    nhs = ids.nhs_numbers([text])
    names = tuple(
        dict.fromkeys([identifier.attribute for identifier in matched] + ([ids.NHS_NUMBER] if nhs else []))
    )
    shown = " ".join(redact(word) for word in text.split())
    where = f"frame {frame}, box {_box_text(box)}"
    if names:
        values = ", ".join(
            [f"{identifier.attribute} {identifier.redacted}" for identifier in matched]
            + [f"{ids.NHS_NUMBER} {value}" for value in nhs]
        )
        return Finding(
            "ocr-identifier",
            "error",
            f"burnt-in text at {where} matches the header's {values}",
            frame=frame,
            box=box,
            identifiers=names,
            text=shown,
        )
    return Finding(
        "ocr-text",
        "warning",
        f"burnt-in text at {where} ({len(text)} characters, no header identifier): review it",
        frame=frame,
        box=box,
        text=shown,
    )


def _box_text(box: ocr.Box) -> str:
    return ",".join(str(value) for value in box)
