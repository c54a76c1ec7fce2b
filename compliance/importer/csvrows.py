"""Read and validate an import CSV by DQR's own header rules, row by row, before anything is queried.

DQR's CSV (xnat-data-lifecycle.md §2.1 "CSV format"; DQR ``BasicDicomQueryRetrieveService.Row``,
``RowManager``, ``HEADER_TO_TAG_MAP``): the first row names the columns, spelt exactly; search headers
``Accession Number``, ``Study Date``, ``Patient ID``, ``Last Name``, ``First Name``, ``DOB``,
``Modality``, ``Study Instance UID``; label headers ``Subject`` and ``Session``; and the six
``Relabel …`` headers. ``Study Date`` is ``YYYYMMDD`` or a range ``YYYYMMDD-YYYYMMDD`` (either end may be
open): DQR splits on ``-``, so a dashed date breaks the search. At most 1000 rows.

Stricter than DQR, on purpose: a row must name one study (an Accession Number, a Study Instance UID, or
a Patient ID with a Study Date); a row that repeats an earlier row's search or Session label is refused;
values are never echoed in messages (they are PHI), only the row number and the column.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from compliance.importer.labels import label_problem

SEARCH_HEADERS: dict[str, str] = {  # CSV header -> PacsSearchCriteria field
    "Accession Number": "accessionNumber",
    "Study Date": "studyDate",
    "Patient ID": "patientId",
    "Last Name": "lastName",
    "First Name": "firstName",
    "DOB": "dob",
    "Modality": "modality",
    "Study Instance UID": "studyInstanceUid",
}
LABEL_HEADERS = ("Subject", "Session")
RELABEL_HEADERS = (
    "Relabel Accession Number",
    "Relabel Study Date",
    "Relabel Study ID",
    "Relabel Patient ID",
    "Relabel Patient Name",
    "Relabel Patient Birth Date",
)
KNOWN_HEADERS = (*SEARCH_HEADERS, *LABEL_HEADERS, *RELABEL_HEADERS)
# Subject writes (0010,0010) and (0010,0020); Session writes (0020,0010) and (0008,0050). A Relabel header
# for one of those tags would race with the label: DQR builds the script from a map in no fixed order.
RELABEL_CONFLICTS = {
    "Relabel Patient ID": "Subject",
    "Relabel Patient Name": "Subject",
    "Relabel Study ID": "Session",
    "Relabel Accession Number": "Session",
}
DATE_RELABELS = ("Relabel Study Date", "Relabel Patient Birth Date")
CLEAR_VALUES = ('""', '""""""')  # DQR's CLEAR_SIGNIFIER and CLEAR_SIGNIFIER_3X: ':= ""'
MAX_ROWS = 1000  # DQR CsvPacsRequestTooManyRowsException
HEADER_ROW = 1
DICOM_DATE = re.compile(r"\d{8}")
DICOM_UID = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))+")
MODALITY = re.compile(r"[A-Z0-9_ ]{1,16}")
UID_MAX = 64


class CsvFileError(Exception):
    """The CSV as a whole cannot be used (unreadable, bad header, too many rows); nothing is queried."""


@dataclass(frozen=True)
class RowProblem:
    row: int  # spreadsheet row number: the header is row 1
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass(frozen=True)
class CsvRow:
    """One valid row: DQR search criteria, the labels it gives (if any) and its Relabel values."""

    row: int
    criteria: dict[str, str] = field(repr=False)  # PacsSearchCriteria JSON fields (PHI)
    subject: str | None = None
    session: str | None = None
    relabel: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def needs_pseudonym(self) -> bool:
        return self.subject is None or self.session is None

    def identifiers(self) -> tuple[str, ...]:
        """The row's values that identify a patient, for the label checks and the redactor."""
        return tuple(
            self.criteria.get(name, "") for name in ("accessionNumber", "patientId") if name in self.criteria
        )


@dataclass(frozen=True)
class CsvCheck:
    source: str
    sha256: str
    headers: tuple[str, ...]
    rows: tuple[CsvRow, ...]
    problems: tuple[RowProblem, ...]

    @property
    def row_count(self) -> int:
        return len(self.rows) + len(self.problems)


def read_csv(path: Path) -> CsvCheck:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CsvFileError(
            f"{path}: cannot read the CSV ({error.strerror or error}); check the path"
        ) from error
    return parse_csv(data, str(path))


def parse_csv(data: bytes, source: str) -> CsvCheck:
    text = _decode(data, source)
    records = [record for record in _records(text, source) if record[1]]
    if not records:
        raise CsvFileError(f"{source}: the CSV is empty; its first row must name the columns")
    header_row, headers = records[0]
    _check_headers(headers, source, header_row)
    body = records[1:]
    if len(body) > MAX_ROWS:
        raise CsvFileError(
            f"{source}: {len(body)} rows; DQR takes at most {MAX_ROWS} rows per CSV: split the file"
        )
    rows: list[CsvRow] = []
    problems: list[RowProblem] = []
    searches: dict[tuple[tuple[str, str], ...], int] = {}
    sessions: dict[str, int] = {}
    for number, cells in body:
        try:
            row = _parse_row(number, headers, cells)
            _check_unique(row, searches, sessions)
        except _RowRefusedError as refusal:
            problems.append(RowProblem(number, str(refusal)))
            continue
        rows.append(row)
    return CsvCheck(source, hashlib.sha256(data).hexdigest(), tuple(headers), tuple(rows), tuple(problems))


class _RowRefusedError(Exception):
    pass


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CsvFileError(
            f"{source}: line {line}: the CSV is not UTF-8 text (byte 0x{data[error.start]:02X}); save it as "
            "'CSV UTF-8'"
        ) from error


def _records(text: str, source: str) -> list[tuple[int, list[str]]]:
    """(spreadsheet row number, cells) per record; blank lines are skipped as DQR skips them."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for index, cells in enumerate(reader, start=HEADER_ROW):
            records.append((index, cells))
    except csv.Error as error:
        raise CsvFileError(f"{source}: line {reader.line_num}: not valid CSV: {error}") from error
    return [(number, cells) for number, cells in records if cells]


def _check_headers(headers: list[str], source: str, row: int) -> None:
    seen: set[str] = set()
    problems = []
    for column, header in enumerate(headers, start=1):
        if header in seen:
            problems.append(f"column {column}: '{header}' appears twice")
        seen.add(header)
        if header not in KNOWN_HEADERS:
            hint = difflib.get_close_matches(header.strip(), KNOWN_HEADERS, n=1)
            advice = f" (did you mean '{hint[0]}'? headers are matched exactly)" if hint else ""
            problems.append(f"column {column}: unknown header '{header}'{advice}")
    if not seen & set(SEARCH_HEADERS):
        problems.append("no search column: add 'Accession Number', or 'Patient ID' and 'Study Date'")
    if problems:
        allowed = ", ".join(f"'{name}'" for name in KNOWN_HEADERS)
        raise CsvFileError(
            f"{source}: row {row} (header): " + "; ".join(problems) + f". Known headers: {allowed}"
        )


def _parse_row(number: int, headers: list[str], cells: list[str]) -> CsvRow:
    if len(cells) != len(headers):
        raise _RowRefusedError(f"{len(cells)} cells but the header has {len(headers)} columns")
    values = {header: cell.strip() for header, cell in zip(headers, cells, strict=True)}
    criteria = _criteria(values)
    subject = _label(values, "Subject", criteria)
    session = _label(values, "Session", criteria)
    return CsvRow(number, criteria, subject, session, _relabels(values))


def _criteria(values: dict[str, str]) -> dict[str, str]:
    criteria: dict[str, str] = {}
    for header, name in SEARCH_HEADERS.items():
        value = values.get(header, "")
        if value:
            criteria[name] = value
    if "studyDate" in criteria:
        start, end = _date_range(criteria.pop("studyDate"))
        criteria |= {key: value for key, value in (("studyDateFrom", start), ("studyDateTo", end)) if value}
    if "dob" in criteria:
        _calendar_date(criteria["dob"], "DOB")
    if "modality" in criteria and not MODALITY.fullmatch(criteria["modality"]):
        raise _RowRefusedError("Modality is not a DICOM modality code (capitals and digits, e.g. CT)")
    uid = criteria.get("studyInstanceUid")
    if uid is not None and (len(uid) > UID_MAX or not DICOM_UID.fullmatch(uid)):
        raise _RowRefusedError(
            "Study Instance UID is not a DICOM UID (digits and dots, at most 64 characters)"
        )
    last, first = criteria.pop("lastName", ""), criteria.pop("firstName", "")
    if last or first:
        criteria["patientName"] = f"{last},{first}" if first else last  # as DQR joins them
    if not criteria:
        raise _RowRefusedError(
            "no search criteria: DQR would search every study on the PACS; fill in Accession Number, or "
            "Patient ID and Study Date"
        )
    if not ({"accessionNumber", "studyInstanceUid"} & set(criteria)) and not _patient_and_date(criteria):
        raise _RowRefusedError(
            "the search does not name one study: give an Accession Number, a Study Instance UID, or a "
            "Patient ID together with a Study Date"
        )
    return criteria


def _patient_and_date(criteria: dict[str, str]) -> bool:
    return "patientId" in criteria and bool({"studyDateFrom", "studyDateTo"} & set(criteria))


def _date_range(text: str) -> tuple[str, str]:
    """``YYYYMMDD`` or ``YYYYMMDD-YYYYMMDD`` with open ends, as DQR's getDateRange splits it."""
    if "-" not in text:
        _calendar_date(text, "Study Date")
        return text, text
    start, _, end = text.partition("-")
    if "-" in end or (start and not DICOM_DATE.fullmatch(start)) or (end and not DICOM_DATE.fullmatch(end)):
        raise _RowRefusedError(
            "Study Date is written with dashes inside a date (e.g. YYYY-MM-DD); DQR reads '-' as a range "
            "separator: write YYYYMMDD, or a range YYYYMMDD-YYYYMMDD"
        )
    if not start and not end:
        raise _RowRefusedError(
            "Study Date is an open range on both ends ('-'), which DQR ignores: give a date"
        )
    for part in (start, end):
        if part:
            _calendar_date(part, "Study Date")
    if start and end and start > end:
        raise _RowRefusedError("Study Date range ends before it starts")
    return start, end


def _calendar_date(text: str, column: str) -> None:
    if not DICOM_DATE.fullmatch(text):
        raise _RowRefusedError(f"{column} is not a date written YYYYMMDD")
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as error:
        raise _RowRefusedError(f"{column} is not a real calendar date (YYYYMMDD)") from error


def _label(values: dict[str, str], kind: str, criteria: dict[str, str]) -> str | None:
    value = values.get(kind, "")
    if not value:
        return None
    if value in CLEAR_VALUES:
        raise _RowRefusedError(
            f"{kind} cannot be cleared: leave the cell empty for a pseudonym, or give a label"
        )
    if value in (criteria.get("accessionNumber"), criteria.get("patientId")):
        raise _RowRefusedError(
            f"the {kind} label is the row's accession number or patient ID: no hospital identifier may "
            "become an XNAT label; leave it empty for a keyed pseudonym"
        )
    problem = label_problem(kind, value)
    if problem:
        raise _RowRefusedError(problem)
    return value


def _relabels(values: dict[str, str]) -> dict[str, str]:
    relabel: dict[str, str] = {}
    for header in RELABEL_HEADERS:
        value = values.get(header, "")
        if not value:
            continue
        if header in RELABEL_CONFLICTS:
            label = RELABEL_CONFLICTS[header]
            raise _RowRefusedError(
                f"{header} sets a tag that the {label} label also sets, and DQR applies them in no fixed "
                f"order; leave {header} empty"
            )
        if header in DATE_RELABELS and value not in CLEAR_VALUES:
            _calendar_date(value, header)
        relabel[header] = value
    return relabel


def _check_unique(
    row: CsvRow, searches: dict[tuple[tuple[str, str], ...], int], sessions: dict[str, int]
) -> None:
    search = tuple(sorted(row.criteria.items()))
    if search in searches:
        raise _RowRefusedError(f"the same search as row {searches[search]}: one row per study")
    if row.session is not None and row.session in sessions:
        raise _RowRefusedError(
            f"Session label already used by row {sessions[row.session]}: Session labels must be unique"
        )
    searches[search] = row.row
    if row.session is not None:
        sessions[row.session] = row.row
