"""Header rules for burnt-in text: SOP classes and series known to carry it, and deid's filter recipes.

deid's shipped recipe (``deid.dicom``: 118 CTP- and Stanford-derived LABELs) has three filter groups:
``whitelist`` (known clean: no finding), ``graylist`` (known devices and series, most with the pixel
coordinates of their burnt-in text) and ``blacklist`` (flag for review: secondary captures, screen
saves, dose reports, patient protocols). A trust's own recipe (``--recipe FILE``, deid's format) is read
after the shipped one, so its LABELs add to it.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset

from compliance.pixels.ocr import Box

SHIPPED_RECIPE = "dicom"  # deid's deid/data/deid.dicom

SECONDARY_CAPTURE = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture",
}
ULTRASOUND = {
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
    "1.2.840.10008.5.1.4.1.1.6.2": "Enhanced US Volume",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image (retired)",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image (retired)",
}
# Video and photographs from endoscopes, microscopes and cameras: their capture devices overlay text.
VISIBLE_LIGHT_PREFIX = "1.2.840.10008.5.1.4.1.1.77.1"
IMAGE_TYPE_WORDS = ("SCREEN SAVE", "SCREEN", "SAVE", "REPORT", "DOSE", "DEMOGRAPHICDATA", "REPORTDATA")
SERIES_PATTERN = re.compile(
    r"dose\s*(report|info|summary|screen|sr)|patient\s*protocol|screen\s*(save|capture|shot)"
    r"|\breport\b|worksheet|exam\s*summary",
    re.IGNORECASE,
)
TEXT_MODALITIES = {"OT": "Other", "DOC": "Document", "SC": "Secondary Capture", "US": "Ultrasound"}


class RecipeError(ValueError):
    """A deid recipe file that cannot be read."""


@dataclass(frozen=True)
class RecipeHit:
    group: str  # recipe and group, e.g. "deid.dicom graylist"; whitelist hits are not kept
    label: str  # deid's reason: the LABEL's criteria as deid describes them
    boxes: tuple[Box, ...]  # regions to blank (deid's coordinates, mask 0), in the frame's pixels
    keep: tuple[Box, ...]  # regions to keep (deid's keepcoordinates, mask 1)
    whole_image: bool = False  # "coordinates all"
    # deid's own coordinates, in the recipe's order: (mask value, "x0,y0,x1,y1" or "all")
    coordinates: tuple[tuple[int, str], ...] = ()


def known_carriers(dataset: Dataset) -> list[str]:
    """Why the SOP class, modality, image type or series description suggests burnt-in text."""
    reasons = []
    sop_class = str(dataset.get("SOPClassUID", "") or "")
    for table, kind in ((SECONDARY_CAPTURE, "secondary capture"), (ULTRASOUND, "ultrasound")):
        if sop_class in table:
            reasons.append(f"SOP class {table[sop_class]} ({kind}: often carries burnt-in text)")
    if sop_class.startswith(VISIBLE_LIGHT_PREFIX):
        reasons.append("visible-light SOP class (endoscopy, microscopy, photography: devices overlay text)")
    modality = str(dataset.get("Modality", "") or "").upper()
    if modality in TEXT_MODALITIES and not reasons:
        reasons.append(f"modality {modality} ({TEXT_MODALITIES[modality]})")
    values = [value.upper() for value in _values(dataset.get("ImageType"))]
    words = [word for word in IMAGE_TYPE_WORDS if any(word in value for value in values)]
    if words:
        reasons.append(f"Image Type says {words[0]}")
    description = str(dataset.get("SeriesDescription", "") or "")
    if SERIES_PATTERN.search(description):
        reasons.append("series description names a dose report, protocol, report or screen capture")
    return reasons


def quiet_deid() -> None:
    """deid logs every recipe line at DEBUG on stdout unless told otherwise: errors only.

    (Its pixel cleaner raises the level again when first imported, so it is imported here first.)
    """
    os.environ.setdefault("MESSAGELEVEL", "ERROR")
    with warnings.catch_warnings():  # deid imports pydicom's deprecated pixel_data_handlers
        warnings.simplefilter("ignore", DeprecationWarning)
        import deid.dicom.pixels.clean  # noqa: F401, PLC0415 - imported for its side effect on the level
    from deid.logger import bot  # noqa: PLC0415
    from deid.logger.message import ERROR  # noqa: PLC0415

    bot.level = ERROR


def _values(value: object) -> list[str]:
    """A multi-valued element's values as strings (pydicom gives a str for one value, a MultiValue else)."""
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return [str(value)]
    return [str(item) for item in value]  # type: ignore[union-attr]


@dataclass(frozen=True)
class Recipes:
    """The recipes a run evaluates, each on its own: deid merges same-named groups (a trust recipe's
    ``graylist`` would replace the shipped one), so they are never combined into one."""

    recipes: tuple[tuple[str, Any], ...]  # (name, deid.config.DeidRecipe)


def load_recipe(path: Path | None = None) -> Recipes:
    """deid's shipped recipe, and a trust recipe file after it when given."""
    quiet_deid()
    from deid.config import DeidRecipe  # noqa: PLC0415 - deid imports matplotlib: load on use

    shipped = ("deid.dicom", DeidRecipe(SHIPPED_RECIPE))
    if path is None:
        return Recipes((shipped,))
    if not path.is_file():
        raise RecipeError(f"recipe {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecipeError(f"recipe {path} cannot be read: {error}") from error
    if not re.match(r"\s*FORMAT\s+dicom\b", text, re.IGNORECASE):
        raise RecipeError(f"recipe {path} is not a deid recipe: its first line must be 'FORMAT dicom'")
    try:
        trust = DeidRecipe(deid=str(path))
    except SystemExit as error:  # deid exits on a malformed recipe; turn that into an error we report
        raise RecipeError(f"recipe {path} is malformed (deid refused it: exit {error.code})") from error
    if not trust.get_filters():
        raise RecipeError(f"recipe {path} has no %filter section: it names no regions or rules")
    return Recipes((shipped, (path.name, trust)))


def _as_file_dataset(dataset: Dataset) -> FileDataset:
    if isinstance(dataset, FileDataset):
        return dataset
    meta = getattr(dataset, "file_meta", None) or FileMetaDataset()
    return FileDataset("", dataset, file_meta=meta, preamble=b"\0" * 128)


def recipe_hits(dataset: Dataset, recipes: Recipes) -> list[RecipeHit]:
    """The LABELs of each recipe that match ``dataset``'s header, but none from a recipe whose whitelist
    matches (deid's "known clean")."""
    from deid.dicom.pixels.detect import has_burned_pixels  # noqa: PLC0415

    wrapped = _as_file_dataset(dataset)
    hits = []
    for name, recipe in recipes.recipes:
        # deid resolves "from:Field" coordinates by writing them into the recipe: use a copy each time.
        private = copy.copy(recipe)
        private.deid = copy.deepcopy(recipe.deid)
        result = has_burned_pixels(wrapped, deid=private)
        if any(item["group"] == "whitelist" for item in result["results"]):
            continue
        hits += [_hit(name, item) for item in result["results"]]
    return hits


def _hit(recipe: str, item: dict[str, Any]) -> RecipeHit:
    boxes, keep, whole, raw = [], [], False, []
    for value, coordinates in item.get("coordinates", []):
        for coordinate in coordinates if isinstance(coordinates, list) else [coordinates]:
            raw.append((int(value), str(coordinate).strip()))
            if str(coordinate).strip().lower() == "all":
                whole = whole or int(value) == 0
                continue
            box = _box(str(coordinate))
            if box is not None:
                (boxes if int(value) == 0 else keep).append(box)
    label = " ".join(item["reason"].split())
    return RecipeHit(f"{recipe} {item['group']}", label, tuple(boxes), tuple(keep), whole, tuple(raw))


def _box(text: str) -> Box | None:
    try:
        x0, y0, x1, y1 = (int(float(part)) for part in text.split(","))
    except ValueError:
        return None
    return (x0, y0, x1, y1)
