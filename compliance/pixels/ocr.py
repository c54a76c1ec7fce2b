"""Optical character recognition of decoded frames with Debian's tesseract (``tesseract-ocr``).

Tesseract runs as a subprocess with a timeout, one call per image, reading a PGM image from stdin and
writing TSV to stdout; nothing is written to disk and nothing is downloaded (the English trained data
comes with Debian's ``tesseract-ocr-eng``). Work is bounded: frames are converted to 8 bits and
downscaled so that their longest side is at most ``MAX_SIDE`` pixels; boxes are reported in the frame's
own pixel coordinates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

TESSERACT = "tesseract"
MAX_SIDE = 1024  # frames are downscaled to this longest side before OCR
MIN_SIDE = 512  # smaller frames are enlarged (up to 3x): tesseract reads small burnt-in fonts far better
MAX_UPSCALE = 3
TIMEOUT_SECONDS = 30.0
# Tesseract's per-word confidence (0-100) below which a word that matches no header identifier is noise.
# Words that match one count whatever their confidence: a caret in "FAMILY^GIVEN" drops it to near 0.
MIN_CONFIDENCE = 40.0
MIN_WORD_CHARACTERS = 2  # letters or digits a word needs to count as text
INSTALL_HINT = (
    "install Debian's tesseract-ocr and tesseract-ocr-eng (scripts/setup does: "
    "apt-get install tesseract-ocr tesseract-ocr-eng)"
)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels; x1 and y1 exclusive (deid's convention)


class OcrUnavailableError(RuntimeError):
    """Tesseract is not installed, has no English data, or failed."""


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    confidence: float
    line: tuple[int, int, int]  # (block, paragraph, line): words of one line share it


@dataclass(frozen=True)
class Line:
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def box(self) -> Box:
        return union([word.box for word in self.words])


def union(boxes: list[Box]) -> Box:
    return (
        min(box[0] for box in boxes),
        min(box[1] for box in boxes),
        max(box[2] for box in boxes),
        max(box[3] for box in boxes),
    )


def tesseract_path() -> str:
    """The tesseract executable, or OcrUnavailableError saying how to install it."""
    path = shutil.which(TESSERACT)
    if path is None:
        raise OcrUnavailableError(f"tesseract is not on PATH: {INSTALL_HINT}")
    return path


def to_8bit(frame: np.ndarray) -> np.ndarray:
    """A 2-D uint8 image of one decoded frame: colour to luminance, grey values stretched to 0-255."""
    values = np.asarray(frame)
    if values.ndim == 3:  # (rows, columns, samples): ITU-R BT.601 luminance
        values = values[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    values = values.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _rescale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """(image, factor): the longest side at most max_side, small frames enlarged; factor maps OCR boxes
    back to the frame."""
    rows, columns = image.shape
    longest = max(rows, columns)
    if longest > max_side:
        factor = longest / max_side
    elif longest < min(MIN_SIDE, max_side):
        factor = 1 / min(MAX_UPSCALE, int(np.ceil(min(MIN_SIDE, max_side) / longest)))
    else:
        return image, 1.0
    from PIL import Image  # noqa: PLC0415 - Pillow only when a frame is resized

    size = (max(int(columns / factor), 1), max(int(rows / factor), 1))
    resized = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)
    return np.asarray(resized), factor


def _pgm(image: np.ndarray) -> bytes:
    rows, columns = image.shape
    return b"P5\n%d %d\n255\n" % (columns, rows) + np.ascontiguousarray(image, dtype=np.uint8).tobytes()


def read_words(
    frame: np.ndarray,
    *,
    max_side: int = MAX_SIDE,
    timeout: float = TIMEOUT_SECONDS,
    psm: int = 11,
    min_confidence: float = MIN_CONFIDENCE,
) -> list[Word]:
    """The words tesseract reads in ``frame`` (any decoded frame), at least ``min_confidence`` confident.

    ``psm`` 11 is tesseract's "sparse text" mode: burnt-in annotations are scattered labels, not a page.
    """
    image, factor = _rescale(to_8bit(frame), max_side)
    if image.size == 0 or image.max() == image.min():
        return []  # a uniform image holds no text; tesseract is not asked
    command = [tesseract_path(), "stdin", "stdout", "-l", "eng", "--psm", str(psm), "tsv"]
    # One thread per call: the machine's cores are shared with the caller's own workers.
    environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        completed = subprocess.run(
            command, input=_pgm(image), capture_output=True, timeout=timeout, check=False, env=environment
        )
    except subprocess.TimeoutExpired as error:
        raise OcrUnavailableError(f"tesseract did not finish within {timeout:g} s") from error
    if completed.returncode != 0:
        detail = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OcrUnavailableError(
            f"tesseract failed (exit {completed.returncode}): {detail[-1] if detail else 'no message'}; "
            + INSTALL_HINT
        )
    return _parse_tsv(completed.stdout.decode("utf-8", "replace"), factor, min_confidence)


def _parse_tsv(tsv: str, factor: float, min_confidence: float) -> list[Word]:
    words = []
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5":
            continue
        text = fields[11].strip()
        try:
            confidence = float(fields[10])
            left, top, width, height = (int(value) for value in fields[6:10])
        except ValueError:
            continue
        if confidence < min_confidence or sum(ch.isalnum() for ch in text) < MIN_WORD_CHARACTERS:
            continue
        box = (
            int(left * factor),
            int(top * factor),
            int(np.ceil((left + width) * factor)),
            int(np.ceil((top + height) * factor)),
        )
        words.append(Word(text, box, confidence, (int(fields[2]), int(fields[3]), int(fields[4]))))
    return words


def lines(words: list[Word]) -> list[Line]:
    """Words grouped into tesseract's text lines, in reading order."""
    grouped: dict[tuple[int, int, int], list[Word]] = {}
    for word in words:
        grouped.setdefault(word.line, []).append(word)
    return [Line(tuple(group)) for group in grouped.values()]
