"""Clean burnt-in text out of pixel data, verify by OCR, and stamp the result (``enclave anon clean-pixels``).

Per instance:

1. **detect** — deid's filter recipe (shipped, plus a trust recipe) names regions for known devices and
   series; tesseract reads text in sampled frames (``compliance.pixels.detect``);
2. **clean** — deid's cleaner (``deid.dicom.pixels.clean.clean_pixel_data``) blanks the recipe's regions
   in every frame, then every OCR-found text box (with a margin) is blanked in every frame;
3. **verify** — tesseract reads the cleaned frames again, and each cleaned region on its own: any text
   inside a cleaned region, or any text matching a header identifier, fails; text found elsewhere is
   blanked in one more round, then read again;
4. **stamp** — a new SOP Instance UID for every output (its pixels are a new object, as PS3.15 Annex E's
   Clean Pixel Data Option requires); Burned In Annotation NO and the 113101 "Clean Pixel Data Option"
   code in De-identification Method Code Sequence only when verification passed, YES otherwise.

Inputs are never modified: outputs go under --out, with the same refusals as ``enclave anon apply``
(an --out inside an input, two inputs onto one output, an output onto an input, links on the way).
Compressed inputs are decompressed and written uncompressed (Explicit VR Little Endian).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from compliance.anon.apply import _write_without_following_links, plan_outputs
from compliance.pixels import detect, ocr
from compliance.pixels import identifiers as ids
from compliance.pixels.recipes import RecipeHit, Recipes, load_recipe, recipe_hits

CLEAN_PIXEL_CODE = ("113101", "DCM", "Clean Pixel Data Option")
METHOD_TEXT = "enclave anon clean-pixels: Clean Pixel Data Option"
MARGIN_PIXELS = 3
MARGIN_OF_HEIGHT = 0.25  # an OCR box grows by a quarter of its height: ascenders, descenders, blur
ROUNDS = 2  # clean, verify; text found elsewhere is cleaned once more, then verified again
INSIDE_FRACTION = 0.3  # a text box this much inside cleaned pixels is text the cleaning left
MAX_REGION_CHECKS = 32  # cleaned regions read on their own, per frame

VERIFIED, NEEDS_REVIEW, SKIPPED = "verified", "needs review", "skipped"


@dataclass
class FileOutcome:
    source: Path
    target: Path | None
    status: str  # verified, needs review, skipped
    reason: str = ""
    sop_instance_uid: str = ""  # the new one (the original is not recorded: it may link back)
    regions: list[ocr.Box] = field(default_factory=list)  # blanked boxes, frame pixels
    whole_image: bool = False
    cleaned_fraction: float = 0.0  # share of each frame's pixels blanked (clinical/AI impact)
    frames: int = 0
    frames_verified: list[int] = field(default_factory=list)
    findings: list[detect.Finding] = field(default_factory=list)  # what detection found
    remaining: list[detect.Finding] = field(default_factory=list)  # what verification still read

    def to_json(self) -> dict[str, Any]:
        return {
            "input": str(self.source),
            "output": str(self.target) if self.target else None,
            "status": self.status,
            "reason": self.reason,
            "sop_instance_uid": self.sop_instance_uid,
            "regions": [list(box) for box in self.regions],
            "whole_image": self.whole_image,
            "cleaned_fraction": round(self.cleaned_fraction, 4),
            "frames": self.frames,
            "frames_verified": self.frames_verified,
            "findings": [finding.to_json() for finding in self.findings],
            "remaining": [finding.to_json() for finding in self.remaining],
        }


@dataclass
class CleanResult:
    outcomes: list[FileOutcome]

    @property
    def verified(self) -> list[FileOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == VERIFIED]

    @property
    def unverified(self) -> list[FileOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == NEEDS_REVIEW]

    @property
    def skipped(self) -> list[FileOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == SKIPPED]

    def to_json(self) -> dict[str, Any]:
        return {
            "written": len(self.outcomes) - len(self.skipped),
            "verified": len(self.verified),
            "needs_review": len(self.unverified),
            "skipped": len(self.skipped),
            "files": [outcome.to_json() for outcome in self.outcomes],
        }


def clean_files(
    paths: list[Path],
    out: Path,
    recipe_file: Path | None = None,
    *,
    max_frames: int = detect.MAX_FRAMES,
    max_side: int = ocr.MAX_SIDE,
    timeout: float = ocr.TIMEOUT_SECONDS,
) -> CleanResult:
    """Clean every DICOM file under ``paths`` into ``out``; UnsafeOutputError before anything is written."""
    plan = plan_outputs(paths, out)
    ocr.tesseract_path()
    recipe = load_recipe(recipe_file)
    outcomes = []
    for source, target in plan:
        try:
            dataset = dcmread(source)
        except (InvalidDicomError, OSError) as error:
            outcomes.append(FileOutcome(source, None, SKIPPED, f"not a readable DICOM file ({error})"))
            continue
        outcome = clean_dataset(dataset, recipe, max_frames=max_frames, max_side=max_side, timeout=timeout)
        outcome.source = source
        if outcome.status != SKIPPED:
            _write_without_following_links(dataset, target)
            outcome.target = target
        outcomes.append(outcome)
    return CleanResult(outcomes)


def clean_dataset(
    dataset: Dataset,
    recipe: Recipes,
    *,
    max_frames: int = detect.MAX_FRAMES,
    max_side: int = ocr.MAX_SIDE,
    timeout: float = ocr.TIMEOUT_SECONDS,
) -> FileOutcome:
    """Clean ``dataset`` in memory (pixels and stamp); the outcome says whether verification passed."""
    outcome = FileOutcome(Path(), None, SKIPPED)
    if "PixelData" not in dataset:
        outcome.reason = "no pixel data"
        return outcome
    if int(dataset.get("BitsAllocated", 8) or 8) == 1:
        outcome.reason = "1-bit pixel data is not cleaned here (review it by eye)"
        return outcome
    if detect.decoded_size(dataset) > detect.MAX_DECODED_BYTES:
        outcome.reason = "pixel data too large to decode"
        return outcome
    try:
        if dataset.file_meta.TransferSyntaxUID.is_compressed:
            dataset.decompress()
        hits = recipe_hits(dataset, recipe)
        original = np.asarray(dataset.pixel_array)
        pixels = _cleaned_by_recipe(dataset, hits)
    except Exception as error:  # any decoder failure skips the file, with the reason
        outcome.reason = f"pixel data could not be decoded: {error}"
        return outcome
    frames = detect.frame_count(dataset)
    multi = frames > 1
    sample = detect.sampled_frames(frames, max_frames)
    known = ids.header_identifiers(dataset)
    reading = {"sample": sample, "multi": multi, "known": known, "max_side": max_side, "timeout": timeout}
    outcome.findings = detect.header_findings(dataset) + detect.recipe_findings(dataset, recipe)
    outcome.whole_image = any(hit.whole_image for hit in hits)
    blank = _recipe_mask(hits, pixels, multi)
    regions: list[ocr.Box] = [box for hit in hits for box in hit.boxes]
    found = _read_frames(original, **reading)  # detection: the original
    outcome.findings += found
    remaining = _clean_and_verify(pixels, found, blank, regions, reading)
    shape = pixels.shape[1:3] if multi else pixels.shape[:2]
    outcome.regions = list(dict.fromkeys(_clipped(box, shape) for box in regions))
    outcome.remaining = remaining
    outcome.frames = frames
    outcome.frames_verified = sample
    outcome.cleaned_fraction = float(blank.mean()) if blank.size else 0.0
    _store_pixels(dataset, pixels)
    declared = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    if remaining:
        outcome.reason = f"{len(remaining)} text line(s) still read after cleaning"
    elif declared and not blank.any():
        # The device says there is burnt-in text, and neither a recipe nor OCR found any: not proof.
        outcome.reason = "Burned In Annotation was YES but no recipe region or OCR text was found to clean"
    verified = not outcome.reason
    outcome.status = VERIFIED if verified else NEEDS_REVIEW
    outcome.sop_instance_uid = _stamp(dataset, verified=verified)
    return outcome


def _clean_and_verify(
    pixels: np.ndarray,
    found: list[detect.Finding],
    blank: np.ndarray,
    regions: list[ocr.Box],
    reading: dict[str, Any],
) -> list[detect.Finding]:
    """Blank what OCR found, read again; the text still read (in a cleaned region, or after the last round).

    ``pixels``, ``blank`` (the cleaned-pixel mask) and ``regions`` are updated in place.
    """
    multi = reading["multi"]
    if not found and not blank.any():
        return []  # nothing read, nothing cleaned: the detection's reading is the verification
    to_blank = found
    after: list[detect.Finding] = []
    for _ in range(ROUNDS):
        for finding in to_blank:
            if finding.box is None:
                continue
            box = _padded(finding.box, pixels, multi)
            if box in regions:
                continue
            _blank_box(pixels, box, multi)
            blank[box[1] : box[3], box[0] : box[2]] = True
            regions.append(box)
        after = _read_frames(pixels, **reading)  # verification
        inside = [finding for finding in after if _inside(finding.box, blank)]
        inside += _read_regions(pixels, regions=regions, **reading)
        if inside or not after:
            return inside  # text in a cleaned region: cleaning failed; nothing read: verified
        to_blank = after  # text elsewhere (read once the brighter text was gone): clean it too
    return after


def _cleaned_by_recipe(dataset: Dataset, hits: list[RecipeHit]) -> np.ndarray:
    """deid's cleaner applied to the recipe's coordinates (a copy of the pixels when none apply)."""
    results = [{"coordinates": [list(item) for item in hit.coordinates]} for hit in hits if hit.coordinates]
    if not results:
        return np.array(dataset.pixel_array, copy=True)
    from deid.dicom.pixels.clean import clean_pixel_data  # noqa: PLC0415 - deid imports matplotlib

    with warnings.catch_warnings():  # deid still calls pydicom's deprecated pixel_data_handlers
        warnings.simplefilter("ignore", DeprecationWarning)
        cleaned = clean_pixel_data(dataset, {"results": results})
    return np.asarray(cleaned).astype(dataset.pixel_array.dtype, copy=False)


def _recipe_mask(hits: list[RecipeHit], pixels: np.ndarray, multi: bool) -> np.ndarray:
    """True where the recipe blanked, in deid's order (blank, then keep, as the recipe says)."""
    shape = pixels.shape[1:3] if multi else pixels.shape[:2]
    blank = np.zeros(shape, dtype=bool)
    for hit in hits:
        for value, coordinate in hit.coordinates:
            if coordinate.lower() == "all":
                blank[:, :] = value == 0
                continue
            try:
                x0, y0, x1, y1 = (int(float(part)) for part in coordinate.split(","))
            except ValueError:
                continue
            blank[y0:y1, x0:x1] = value == 0
    return blank


def _frame(pixels: np.ndarray, index: int, multi: bool) -> np.ndarray:
    return pixels[index] if multi else pixels


def _read_frames(
    pixels: np.ndarray,
    *,
    sample: list[int],
    multi: bool,
    known: list[ids.Identifier],
    max_side: int,
    timeout: float,
) -> list[detect.Finding]:
    found = []
    for index in sample:
        found += detect.read_text(
            _frame(pixels, index, multi), index, known, max_side=max_side, timeout=timeout
        )
    return found


def _read_regions(
    pixels: np.ndarray,
    *,
    regions: list[ocr.Box],
    sample: list[int],
    multi: bool,
    known: list[ids.Identifier],
    max_side: int,
    timeout: float,
) -> list[detect.Finding]:
    """Each cleaned region read on its own (OCR is more sensitive on a crop than on a whole frame)."""
    found = []
    for index in sample:
        frame = _frame(pixels, index, multi)
        for x0, y0, x1, y1 in regions[:MAX_REGION_CHECKS]:
            crop = frame[y0:y1, x0:x1]
            if crop.size == 0 or crop.min() == crop.max():
                continue  # uniform: blank, nothing to read
            found += detect.read_text(crop, index, known, offset=(x0, y0), max_side=max_side, timeout=timeout)
    return found


def _inside(box: ocr.Box | None, blank: np.ndarray) -> bool:
    """Whether a text box lies mostly (``INSIDE_FRACTION``) in the cleaned pixels."""
    if box is None:
        return False
    x0, y0, x1, y1 = box
    area = blank[y0:y1, x0:x1]
    return bool(area.size and area.mean() >= INSIDE_FRACTION)


def _padded(box: ocr.Box, pixels: np.ndarray, multi: bool) -> ocr.Box:
    rows, columns = (pixels.shape[1:3]) if multi else pixels.shape[:2]
    margin = max(MARGIN_PIXELS, int(np.ceil((box[3] - box[1]) * MARGIN_OF_HEIGHT)))
    return (
        max(box[0] - margin, 0),
        max(box[1] - margin, 0),
        min(box[2] + margin, columns),
        min(box[3] + margin, rows),
    )


def _clipped(box: ocr.Box, shape: tuple[int, ...]) -> ocr.Box:
    rows, columns = shape[0], shape[1]
    return (min(box[0], columns), min(box[1], rows), min(box[2], columns), min(box[3], rows))


def _blank_box(pixels: np.ndarray, box: ocr.Box, multi: bool) -> None:
    """Zero the box in every frame, as deid's cleaner does for the recipe's regions."""
    x0, y0, x1, y1 = box
    if multi:
        pixels[:, y0:y1, x0:x1, ...] = 0
    else:
        pixels[y0:y1, x0:x1, ...] = 0


def _store_pixels(dataset: Dataset, pixels: np.ndarray) -> None:
    """Write the cleaned array back as native (uncompressed) pixel data; colour is stored as RGB."""
    if str(dataset.get("PhotometricInterpretation", "")).startswith("YBR"):
        dataset.PhotometricInterpretation = "RGB"  # pixel_array converted YBR to RGB
    if int(dataset.get("SamplesPerPixel", 1) or 1) > 1:
        dataset.PlanarConfiguration = 0  # pixel_array returns colour-by-pixel
    bits = int(dataset.get("BitsAllocated", 8) or 8)
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32}.get(bits, pixels.dtype)
    if int(dataset.get("PixelRepresentation", 0) or 0) == 1:
        dtype = {8: np.int8, 16: np.int16, 32: np.int32}.get(bits, pixels.dtype)
    data = np.ascontiguousarray(pixels.astype(dtype, copy=False)).tobytes()
    dataset.PixelData = data + (b"\0" if len(data) % 2 else b"")
    dataset["PixelData"].VR = "OB" if bits <= 8 else "OW"


def _stamp(dataset: Dataset, verified: bool) -> str:
    """New SOP Instance UID always; Burned In Annotation NO and code 113101 only when verified."""
    uid = generate_uid()
    dataset.SOPInstanceUID = uid
    if getattr(dataset, "file_meta", None) is not None:
        dataset.file_meta.MediaStorageSOPInstanceUID = uid
    dataset.BurnedInAnnotation = "NO" if verified else "YES"
    if verified:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = CLEAN_PIXEL_CODE
        codes = dataset.get("DeidentificationMethodCodeSequence") or Sequence()
        if not any(str(item.get("CodeValue", "")) == CLEAN_PIXEL_CODE[0] for item in codes):
            codes.append(code)
        dataset.DeidentificationMethodCodeSequence = codes
        current = dataset.get("DeidentificationMethod")
        if current in (None, ""):
            methods = []
        else:
            methods = [str(current)] if isinstance(current, str) else [str(value) for value in current]
        if METHOD_TEXT not in methods:
            dataset.DeidentificationMethod = [*methods, METHOD_TEXT] if methods else METHOD_TEXT
    return uid
