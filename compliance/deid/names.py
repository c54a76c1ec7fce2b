"""File and folder names as things to check: dates, identifier patterns and the DICOM's identifiers.

Every scanned file's name is judged, and the names of the folders between it and the scanned directory
(in XNAT: the path inside the resource): a date (``YYYYMMDD``, ``YYYY-MM-DD``, ``DD-MM-YYYY``) or a date
with a time of day (``YYYYMMDDhhmm[ss]``, what dcm2niix's ``%t`` writes) that is not a dummy, an NHS
number, e-mail address, titled or ``FAMILY^GIVEN`` name, and the identifiers of the DICOM around the file
(:mod:`compliance.deid.context`): an error when the DICOM scan judged the value identifying; a review
item when it did not (a pseudonym) and it is in the file's own name, nothing when it is in a folder's
(XNAT and ``enclave fetch`` name folders by their labels). A lone six-digit number is not judged (a
series or instance number as often as a time), nor are UID-shaped runs (``1.2.840.…``: UIDs are not
judged per file in DICOM either).

Dates follow Study Date's rule under the options in force (``--option`` plus what the DICOM around the
file declares): kept under retain-long-full-dates, taken as shifted under retain-long-modified-dates.
A name that holds something is shown in every report with those characters masked (first character
kept, the rest ``*``), so the report does not repeat what it found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from compliance.annex_e import rows_by_tag
from compliance.deid.context import HeaderContext, Known, matching, without_uids
from compliance.deid.dummies import is_dummy
from compliance.deid.patterns import FREE_TEXT, PATTERNS, nhs_number_valid, redact
from compliance.deid.report import PHI, REVIEW, Finding

if TYPE_CHECKING:
    from compliance.deid.scanner import Scanner

NAME_TAG = "name"  # the "tag" of findings in file and folder names
STUDY_DATE = 0x00080020
# A run of digits (with an optional fraction) that is not part of a dotted number such as a UID.
DIGIT_RUN = re.compile(r"(?<!\d)(?<!\d\.)(\d+)(?:\.\d+)?(?!\d)(?!\.\d)")
SEPARATED_DATE = re.compile(
    r"(?<![\d.])(?:(?P<iso>(?:19|20)\d\d)(?P<s1>[-_.])(?P<im>0[1-9]|1[0-2])(?P=s1)(?P<id>0[1-9]|[12]\d|3[01])"
    r"|(?P<dd>0?[1-9]|[12]\d|3[01])(?P<s2>[-_.])(?P<dm>0?[1-9]|1[0-2])(?P=s2)(?P<dy>(?:19|20)\d\d))"
    r"(?!\d|\.\d)"
)
EXTENSIONS = re.compile(r"(?:\.[A-Za-z][A-Za-z0-9]{0,4})+$")  # .dcm, .nii.gz, .json
YEAR = re.compile(r"(?:19|20)\d\d")
# Cheap first pass: an NHS number needs three digits in a row, the others '@', '^' or a title.
MAYBE_IN_NAME = re.compile(r"\d{3}|[@^]|(?:Mrs?|Ms|Dr|Prof|Miss)\b")
NAME_KINDS = frozenset({"nhs", "email", "titled", "caret"})  # the free-text patterns judged in names
# The free-text patterns as text (names are text): the same expression, ASCII semantics as on bytes.
NAME_TEXT = re.compile(FREE_TEXT.pattern.decode("ascii"), re.ASCII)
DATE_MESSAGE = (
    "a file or folder name holds a date (YYYYMMDD and similar); the profile removes or replaces dates "
    "unless a retain-longitudinal option applies: name files by series (dcm2niix -f series_%s), not by date"
)
DATE_TIME_MESSAGE = (
    "a file or folder name holds a date and time of day (YYYYMMDDhhmmss, dcm2niix's %t); the profile "
    "removes or replaces dates and times: name files by series (dcm2niix -f series_%s)"
)

Span = tuple[int, int]


def _valid_date(text: str) -> bool:
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return 1900 <= int(text[:4]) <= 2099


def _valid_time(text: str) -> bool:
    pairs = [int(text[index : index + 2]) for index in range(0, len(text), 2)]
    return pairs[0] < 24 and all(value < 60 for value in pairs[1:])


def find_dates(text: str) -> list[tuple[str, Span, bool]]:
    """(date text, where, with a time of day) for each real-looking date in ``text`` (dummies left out)."""
    found: list[tuple[str, Span, bool, str]] = []
    if YEAR.search(text) is None:  # every date form has a four-digit year
        return []
    for match in DIGIT_RUN.finditer(text):
        digits = match.group(1)
        if len(digits) == 8 and _valid_date(digits):
            found.append((digits, match.span(1), False, digits))
        elif len(digits) in {12, 14} and _valid_date(digits) and _valid_time(digits[8:]):
            found.append((match.group(), match.span(), True, digits))
    for match in SEPARATED_DATE.finditer(text):
        if match.group("iso"):
            compact = f"{match.group('iso')}{match.group('im')}{match.group('id')}"
        else:
            compact = f"{match.group('dy')}{int(match.group('dm')):02d}{int(match.group('dd')):02d}"
        if _valid_date(compact):
            found.append((match.group(), match.span(), False, compact))
    return [
        (shown, span, timed)
        for shown, span, timed, compact in found
        if not is_dummy("DT" if timed else "DA", compact.encode())
    ]


@cache
def date_action(options: frozenset[str]) -> str:
    """What the profile does with dates (Study Date's row) under ``options``: K, C or a removal."""
    return rows_by_tag()[STUDY_DATE].required_action(sorted(options))


def effective_options(scanner: Scanner, contexts: Iterable[HeaderContext]) -> frozenset[str]:
    declared = {option for context in contexts for option in context.declared}
    return frozenset({*scanner.options, *declared})


def identifier_findings(
    where: str, what: str, hits: Sequence[tuple[Known, Span]], *, skip_tags: frozenset[int] = frozenset()
) -> list[Finding]:
    """Findings for identifiers of the DICOM found in some text (a name, a sidecar value, a header)."""
    findings: list[Finding] = []
    for known, _ in hits:
        if known.tag in skip_tags:
            continue
        example = f"{known.attribute} {known.redacted}"
        if known.identifying:
            findings.append(
                (
                    where,
                    "error",
                    "matches-header-identifier",
                    f"{what} contains the patient's {known.attribute} from the DICOM header beside it",
                    PHI,
                    example,
                )
            )
        else:
            findings.append(
                (
                    where,
                    "warning",
                    "matches-header-value",
                    f"{what} contains the {known.attribute} of the DICOM header beside it, a value the scan "
                    "does not judge identifying (a pseudonym or label?): check it is no hospital identifier",
                    REVIEW,
                    example,
                )
            )
    return findings


def pattern_hits(text: str) -> list[tuple[str, Span]]:
    """(pattern kind, where) for the identifier patterns judged in names.

    Underscores separate words in file names and the extensions end them: both are read as spaces, so
    that ``SMITH^JOHN_9434765919.json`` is a name and an NHS number (positions are kept).
    """
    if MAYBE_IN_NAME.search(text) is None:
        return []
    text = EXTENSIONS.sub(lambda match: " " * len(match.group()), text).replace("_", " ")
    hits = []
    for match in NAME_TEXT.finditer(text):
        kind = match.lastgroup
        if kind not in NAME_KINDS:
            continue
        if kind == "nhs" and not nhs_number_valid(re.sub(r"\D", "", match.group())):
            continue
        hits.append((kind, match.span()))
    return hits


def check_names(
    parts: Sequence[str], contexts: Sequence[HeaderContext], scanner: Scanner
) -> tuple[list[Finding], tuple[str, ...], int]:
    """Findings in the name parts, the parts with what was found masked, values recognised as shifted."""
    action = date_action(effective_options(scanner, contexts))
    identifiers = tuple(known for context in contexts for known in context.identifiers)
    findings: list[Finding] = []
    masked = []
    shifted = 0
    for index, part in enumerate(parts):
        found, shown, dates = _judge_part(part, identifiers, action, index == len(parts) - 1)
        findings.extend(found)
        masked.append(shown)
        shifted += dates
    return _unique(findings), tuple(masked), shifted


@lru_cache(maxsize=4096)  # the folders above a directory's files are judged once
def _judge_part(
    part: str, identifiers: tuple[Known, ...], action: str, file_name: bool
) -> tuple[tuple[Finding, ...], str, int]:
    findings: list[Finding] = []
    spans: list[Span] = []
    shifted = 0
    text = without_uids(part)
    for found, span, timed in find_dates(text):
        spans.append(span)
        if action == "K":
            continue
        if action == "C":
            shifted += 1
            continue
        message = DATE_TIME_MESSAGE if timed else DATE_MESSAGE
        findings.append((NAME_TAG, "warning", "date-in-name", message, PHI, redact(found)))
    for kind, span in pattern_hits(text):
        spans.append(span)
        pattern = PATTERNS[kind]
        findings.append(
            (
                NAME_TAG,
                pattern.severity,
                pattern.code,
                f"a file or folder name contains {pattern.description}",
                PHI,
                redact(part[span[0] : span[1]]),
            )
        )
    hits = matching(part, identifiers)
    if not file_name:  # folders are named by XNAT's and fetch's labels, pseudonyms by design
        hits = [(known, span) for known, span in hits if known.identifying]
    spans.extend(span for _, span in hits)
    findings.extend(identifier_findings(NAME_TAG, "a file or folder name", hits))
    return tuple(findings), mask(part, spans), shifted


def masked_display(display: str, parts: Sequence[str], masked: Sequence[str]) -> str:
    """``display`` (ending with the parts joined by ``/``) with the masked parts instead."""
    if tuple(parts) == tuple(masked):
        return display
    joined = "/".join(parts)
    if parts and display.endswith(joined):
        return display[: len(display) - len(joined)] + "/".join(masked)
    return display


def mask(text: str, spans: Iterable[Span]) -> str:
    """``text`` with each span shown as its first character and ``*`` for the rest."""
    characters = list(text)
    for start, end in spans:
        for index in range(start + 1, end):
            characters[index] = "*"
    return "".join(characters)


def _unique(findings: list[Finding]) -> list[Finding]:
    """One finding per (code, example) in a file's names: a date in a folder is not counted per level."""
    return list(dict.fromkeys(findings))
