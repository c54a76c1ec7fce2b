(
    """DICOM query-retrieve plugin: queries (real C-FIND) — /xapi/dqr/query/studies|series|patients|batch.

Sources (DQR = NrgXnat/dicom-query-retrieve, `…` = src/main/java/org/nrg/xnatx/dqr):
- DQR …/rest/DicomQueryRetrieveApi.java (7d14062): every query route is ``restrictTo = Authorizer`` with
  ``DqrUserXapiAuthorization`` (an Administrator, the ``Dqr`` role, or ``allowAllUsersToUseDqr``);
  ``query/studies`` and ``query/patients`` take a ``PacsSearchCriteria`` and answer 204
  (NoContentException) when nothing matched; ``query/series`` takes ``{pacsId, studyInstanceUids}``,
  answers 204 for an empty list and otherwise ``{studyUid: PacsSearchResults<Series>}``, one C-FIND per
  study in turn (``BasicDicomQueryRetrieveService.getSeriesByStudyUid``); ``query/batch`` reads the
  multipart ``csv_to_store`` with ``pacsId`` and ``allowRowThatGetsAllStudiesOnPacs`` and adds
  ``Warning: The generated JSON has no anon script.`` when no row has a relabel map.
- DQR …/services/impl/basic/BasicDicomQueryRetrieveService.java (0654fce): the CSV rows
  (``Row``/``RowManager``: header names, ``Study Date`` ranges split on ``-``, ``Last Name`` +
  ``First Name`` → ``LAST,FIRST``, a row without criteria dropped unless allowed), ``FIND_ROW_PROCESSOR``
  (relabel map keyed by the header, ``""`` and ``"""
    """`` kept as ``""``).
- DQR …/dicom/converters/AbstractDqrSerializer.java, StudySerializer.java: blank fields are left out,
  ``studyDate`` is ``yyyy-MM-dd``, ``patient`` is ``{id, name (LAST,FIRST), sex}``.
- DQR …/dicom/converters/PacsSearchResultsSerializer.java: ``hasLimitedResultSetSize`` and
  ``studyDateRangeLimitResults`` (written even when null), ``results`` only when not empty.
- DQR …/dto/PacsSearchCriteria.java, …/dicom/converters/PacsSearchCriteriaDeserializer.java,
  …/utils/DqrDateRange.java: the criteria fields and the accepted date forms;
  …/dicom/converters/DqrDateRangeSerializer.java: a FindRow's ``studyDateRange`` as ``{start, end}`` in
  ``yyyy-MM-dd``, each only when set.

Stand-ins, not upstream: the C-FIND is pynetdicom's (XNAT uses dcm4che) against the PACS entry's host,
``queryRetrievePort`` and ``aeTitle`` with calling AE ``dqrCallingAe``, Study Root model; a patient name
criterion ``LAST,FIRST`` is sent as ``LAST^FIRST*`` (DQR's ORM strategies are not modelled); a PACS that
cannot be reached or refuses the query answers 500 with DQR's run-time error text; the 1000-row CSV limit
answers 400 (unverified status).
"""
)

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, NoReturn

from flask import Blueprint, Response, request
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from .common import json_response, parse_bool, require_authenticated, state, stop
from .state import DoubleState, User

blueprint = Blueprint("dqr_query", __name__)

MAX_CSV_ROWS = 1000
NO_ANON_SCRIPT_WARNING = "The generated JSON has no anon script."
CRITERIA_FIELDS = (
    "patientId",
    "patientName",
    "dob",
    "accessionNumber",
    "studyInstanceUid",
    "studyId",
    "seriesInstanceUid",
    "seriesDescription",
    "seriesNumber",
    "modality",
)
# BasicDicomQueryRetrieveService.HEADER_TO_TAG_MAP (the relabel headers of a CSV / keys of a relabelMap).
HEADER_TO_TAGS: dict[str, tuple[str, ...]] = {
    "Relabel Accession Number": ("(0008,0050)",),
    "Relabel Study Date": ("(0008,0020)",),
    "Relabel Study ID": ("(0020,0010)",),
    "Relabel Patient ID": ("(0010,0020)",),
    "Relabel Patient Name": ("(0010,0010)",),
    "Relabel Patient Birth Date": ("(0010,0030)",),
    "Subject": ("(0010,0010)", "(0010,0020)"),
    "Session": ("(0020,0010)", "(0008,0050)"),
}
CLEAR_SIGNIFIER = '""'
CLEAR_SIGNIFIER_3X = CLEAR_SIGNIFIER * 3


class QueryError(Exception):
    """The PACS could not be queried (no association, refused, failure status)."""


# --- access and PACS -----------------------------------------------------------------------------------
def require_dqr_user() -> User:
    """DqrUserXapiAuthorization: an Administrator, the Dqr role, or allowAllUsersToUseDqr."""
    user = require_authenticated()
    current = state()
    with current.lock:
        allowed = parse_bool(current.dqr_settings.get("allowAllUsersToUseDqr", "false"))
    if not (user.is_admin or "Dqr" in user.roles or allowed):
        stop(403)
    return user


def queryable_pacs(current: DoubleState, pacs_id: Any) -> dict[str, Any]:
    """The PACS of a query (AbstractDqrRestController.getDefaultQueryablePacs: 0 or absent = the default)."""
    try:
        number = int(pacs_id or 0)
    except (TypeError, ValueError):
        stop(400, f"Bad request: invalid pacsId {pacs_id!r}")
    with current.lock:
        if number == 0:
            pacs = next((p for p in current.pacs.values() if p["defaultQueryRetrievePacs"]), None)
            if pacs is None:
                stop(404, "No default query-retrieve PACS is configured")
        else:
            pacs = current.pacs.get(number)
            if pacs is None:
                stop(404, f"No PACS with ID {number}")
        if not pacs["queryable"]:
            stop(400, f"The PACS {pacs['id']} is not queryable")  # PacsNotQueryableException (unverified)
        return dict(pacs)


@dataclass(frozen=True)
class Peer:
    """Where and how the double talks DICOM to a PACS (DqrPreferences timeouts, in seconds)."""

    host: str
    port: int
    called_ae: str
    calling_ae: str
    connect_timeout: float = 30.0
    accept_timeout: float = 30.0
    response_timeout: float = 60.0
    retrieve_timeout: float = 600.0


def _seconds(settings: dict[str, str], name: str, default: float) -> float:
    try:
        return float(settings.get(name, default))
    except ValueError:
        return default


def peer_for(current: DoubleState, pacs: dict[str, Any]) -> Peer:
    with current.lock:
        settings = dict(current.dqr_settings)
    return Peer(
        host=str(pacs["host"]),
        port=int(pacs["queryRetrievePort"]),
        called_ae=str(pacs["aeTitle"]),
        calling_ae=settings.get("dqrCallingAe", "XNAT") or "XNAT",
        connect_timeout=_seconds(settings, "dimseConnectTimeoutSeconds", 30),
        accept_timeout=_seconds(settings, "dimseAcceptTimeoutSeconds", 30),
        response_timeout=_seconds(settings, "dimseResponseTimeoutSeconds", 60),
        retrieve_timeout=_seconds(settings, "dimseRetrieveTimeoutSeconds", 600),
    )


@contextlib.contextmanager
def association(peer: Peer, context: Any, dimse_timeout: float) -> Iterator[Any]:
    """A pynetdicom association to the PACS proposing one presentation context; QueryError if refused."""
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    ae = AE(ae_title=peer.calling_ae)
    ae.connection_timeout = peer.connect_timeout
    ae.acse_timeout = peer.accept_timeout
    ae.network_timeout = max(peer.response_timeout, dimse_timeout)
    ae.dimse_timeout = dimse_timeout
    ae.add_requested_context(context)
    try:
        assoc = ae.associate(peer.host, peer.port, ae_title=peer.called_ae)
    except (OSError, ValueError) as error:
        raise QueryError(f"could not connect to {peer.called_ae}@{peer.host}:{peer.port}: {error}") from error
    if assoc.is_rejected:
        raise QueryError(f"association rejected by {peer.called_ae}@{peer.host}:{peer.port}")
    if not assoc.is_established:
        raise QueryError(f"no association with {peer.called_ae}@{peer.host}:{peer.port}")
    try:
        yield assoc
    finally:
        with contextlib.suppress(Exception):
            assoc.release()


def c_find(peer: Peer, identifier: Dataset, model: Any = None, assoc: Any = None) -> list[Dataset]:
    """A real C-FIND (on ``assoc`` when given, else on an association of its own); the matches, or
    QueryError when the PACS refuses or fails the query."""
    model = model or StudyRootQueryRetrieveInformationModelFind
    if assoc is None:
        with association(peer, model, peer.response_timeout) as own:
            return c_find(peer, identifier, model, own)
    found: list[Dataset] = []
    for status, match in assoc.send_c_find(identifier, model):
        code = getattr(status, "Status", None)
        if code is None:
            raise QueryError(f"no C-FIND response from {peer.called_ae} (timeout or aborted)")
        if code in (0xFF00, 0xFF01):
            if match is not None:
                found.append(match)
        elif code != 0x0000:
            raise QueryError(f"C-FIND failed on {peer.called_ae} with status 0x{code:04X}")
    return found


# --- criteria -----------------------------------------------------------------------------------------
DATE_FORMS = (
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})/(\d{2})/(\d{2})$"),
    re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
)


def parse_date(value: Any) -> str:
    """A DQR date (yyyyMMdd, yyyy/MM/dd or yyyy-MM-dd) as DICOM DA; 400 otherwise."""
    text = str(value or "").strip()
    matched = next((m for m in (form.match(text) for form in DATE_FORMS) if m), None)
    if matched is None:
        stop(400, f"Bad request: unparseable date {text!r}; use yyyyMMdd, yyyy/MM/dd or yyyy-MM-dd")
    return "".join(matched.groups())


def criteria_from(body: Any) -> dict[str, Any]:
    """PacsSearchCriteria (PacsSearchCriteriaDeserializer): the fields plus a DICOM study-date range."""
    if not isinstance(body, dict):
        stop(400, "Bad request: expected a PacsSearchCriteria object")
    criteria: dict[str, Any] = {"pacsId": body.get("pacsId")}
    for name in CRITERIA_FIELDS:
        value = body.get(name)
        if value not in (None, ""):
            criteria[name] = str(value).strip()
    if "dob" in criteria:
        criteria["dob"] = parse_date(criteria["dob"])
    start = end = ""
    date_range = body.get("studyDateRange")
    if isinstance(date_range, dict):
        start = parse_date(date_range["start"]) if date_range.get("start") else ""
        end = parse_date(date_range["end"]) if date_range.get("end") else ""
    if body.get("studyDateFrom"):
        start = parse_date(body["studyDateFrom"])
    if body.get("studyDateTo"):
        end = parse_date(body["studyDateTo"])
    if parse_bool(body.get("studyDateIsToday", False)):
        start = end = date.today().strftime("%Y%m%d")
    if start or end:
        criteria["studyDate"] = start if start == end else f"{start}-{end}"
    return criteria


def _dicom_name(name: str) -> str:
    """``LAST,FIRST`` (DQR's form) as a DICOM PN matching key."""
    value = name.replace(",", "^")
    return value if "*" in value or "?" in value else value + "*"


# --- studies, series, patients --------------------------------------------------------------------------
STUDY_KEYS = (
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "StudyDate",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "PatientID",
    "PatientName",
    "PatientSex",
    "PatientBirthDate",
)
SERIES_KEYS = (
    "SeriesInstanceUID",
    "SeriesNumber",
    "Modality",
    "SeriesDescription",
    "StudyInstanceUID",
    "StudyDate",
    "StudyID",
    "AccessionNumber",
    "PatientID",
    "PatientName",
    "NumberOfSeriesRelatedInstances",
)


def _identifier(level: str, keys: tuple[str, ...], values: dict[str, str]) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    for keyword in keys:
        setattr(identifier, keyword, values.get(keyword, ""))
    return identifier


def study_identifier(criteria: dict[str, Any]) -> Dataset:
    values = {
        "StudyInstanceUID": criteria.get("studyInstanceUid", ""),
        "StudyID": criteria.get("studyId", ""),
        "AccessionNumber": criteria.get("accessionNumber", ""),
        "StudyDate": criteria.get("studyDate", ""),
        "ModalitiesInStudy": criteria.get("modality", ""),
        "PatientID": criteria.get("patientId", ""),
        "PatientName": _dicom_name(criteria["patientName"]) if criteria.get("patientName") else "",
        "PatientBirthDate": criteria.get("dob", ""),
    }
    return _identifier("STUDY", STUDY_KEYS, values)


def _text(dataset: Dataset, keyword: str) -> str:
    value = dataset.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(item) for item in value)
    return str(value).strip()


def _values(dataset: Dataset, keyword: str) -> list[str]:
    value = dataset.get(keyword)
    if value in (None, ""):
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(item).strip() for item in items if str(item).strip()]


def iso_date(value: str) -> str:
    """DICOM DA → yyyy-MM-dd (DqrDateRange.formatDate); anything else → "" (left out)."""
    digits = value.strip()
    if len(digits) == 8 and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    return ""


def last_comma_first(value: str) -> str:
    """DqrPersonName.getLastNameCommaFirstName: the PN components family and given joined by a comma."""
    family, _, rest = value.partition("^")
    given = rest.split("^")[0] if rest else ""
    return f"{family},{given}" if given else family


def non_blank(entries: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entries.items() if value not in (None, "", [], {})}


def study_json(match: Dataset) -> dict[str, Any]:
    """StudySerializer: blank fields left out."""
    patient = non_blank(
        {
            "id": _text(match, "PatientID"),
            "name": last_comma_first(_text(match, "PatientName")),
            "sex": _text(match, "PatientSex"),
        }
    )
    answer = non_blank(
        {
            "studyInstanceUid": _text(match, "StudyInstanceUID"),
            "studyId": _text(match, "StudyID"),
            "studyDescription": _text(match, "StudyDescription"),
            "accessionNumber": _text(match, "AccessionNumber"),
            "studyDate": iso_date(_text(match, "StudyDate")),
            "modalitiesInStudy": _values(match, "ModalitiesInStudy"),
            "referringPhysicianName": _text(match, "ReferringPhysicianName"),
        }
    )
    if patient:
        answer["patient"] = patient
    return answer


def series_json(match: Dataset) -> dict[str, Any]:
    """…/domain/Series.java (070437a) written NON_NULL: blank DICOM values left out, the study not set."""
    number = _text(match, "SeriesNumber")
    instances = _text(match, "NumberOfSeriesRelatedInstances")
    return non_blank(
        {
            "seriesInstanceUid": _text(match, "SeriesInstanceUID"),
            "seriesNumber": int(number) if number.lstrip("-").isdigit() else None,  # an Integer
            "modality": _text(match, "Modality"),
            "seriesDescription": _text(match, "SeriesDescription"),
            "studyDate": _text(match, "StudyDate"),
            "studyId": _text(match, "StudyID"),
            "accessionNumber": _text(match, "AccessionNumber"),
            "patientId": _text(match, "PatientID"),
            "patientName": _text(match, "PatientName"),
            "numberOfRelatedInstances": int(instances) if instances.isdigit() else None,
        }
    )


def find_studies(peer: Peer, criteria: dict[str, Any], assoc: Any = None) -> list[dict[str, Any]]:
    return [study_json(match) for match in c_find(peer, study_identifier(criteria), assoc=assoc)]


def find_series(peer: Peer, study_uid: str, assoc: Any = None) -> list[dict[str, Any]]:
    """One SERIES-level C-FIND for a study (CFindSCUSeriesLevelByStudy)."""
    identifier = _identifier("SERIES", SERIES_KEYS, {"StudyInstanceUID": study_uid})
    return [series_json(match) for match in c_find(peer, identifier, assoc=assoc)]


def search_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """PacsSearchResultsSerializer (studyDateRangeLimitResults written even when null)."""
    answer: dict[str, Any] = {"hasLimitedResultSetSize": False, "studyDateRangeLimitResults": None}
    if results:
        answer["results"] = results
    return answer


def runtime_error(error: Exception, criteria: Any) -> NoReturn:
    """BasicDicomQueryRetrieveService.getStudiesByExample wraps a PACS failure in a DataFormatException."""
    stop(
        500,
        "A DQR run-time exception occurred, which usually indicates a problem performing a query to the "
        f"PACS: {error}\n\nThe search criteria for this query is: {criteria}",
    )


def _criteria_body() -> dict[str, Any]:
    if request.form:
        return {key: request.form.get(key) for key in request.form}
    raw = request.get_data(as_text=True)
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError as error:
        stop(400, f"Bad request: JSON parse error: {error}")


@blueprint.route("/xapi/dqr/query/studies", methods=["POST"])
def query_studies() -> Response:
    require_dqr_user()
    current = state()
    criteria = criteria_from(_criteria_body())
    peer = peer_for(current, queryable_pacs(current, criteria.get("pacsId")))
    try:
        studies = find_studies(peer, criteria)
    except QueryError as error:
        runtime_error(error, criteria)
    if not studies:
        return Response(b"", status=204)
    return json_response(studies)


@blueprint.route("/xapi/dqr/query/series", methods=["POST"])
def query_series() -> Response:
    require_dqr_user()
    body = _criteria_body()
    uids = body.get("studyInstanceUids") if isinstance(body, dict) else None
    if not uids:
        return Response(b"", status=204)
    current = state()
    peer = peer_for(current, queryable_pacs(current, body.get("pacsId")))
    answer = {}
    try:
        for uid in uids:
            answer[str(uid)] = search_results(find_series(peer, str(uid)))
    except QueryError as error:
        runtime_error(error, body)
    return json_response(answer, keep_nulls=True)


@blueprint.route("/xapi/dqr/query/patients", methods=["POST"])
def query_patients() -> Response:
    require_dqr_user()
    current = state()
    criteria = criteria_from(_criteria_body())
    peer = peer_for(current, queryable_pacs(current, criteria.get("pacsId")))
    values = {
        "PatientID": criteria.get("patientId", ""),
        "PatientName": _dicom_name(criteria["patientName"]) if criteria.get("patientName") else "",
        "PatientBirthDate": criteria.get("dob", ""),
    }
    identifier = _identifier(
        "PATIENT", ("PatientID", "PatientName", "PatientBirthDate", "PatientSex"), values
    )
    try:
        matches = c_find(peer, identifier, PatientRootQueryRetrieveInformationModelFind)
    except QueryError as error:
        runtime_error(error, criteria)
    patients = [
        non_blank(
            {
                "id": _text(match, "PatientID"),
                "name": last_comma_first(_text(match, "PatientName")),
                "sex": _text(match, "PatientSex"),
            }
        )
        for match in matches
    ]
    if not patients:
        return Response(b"", status=204)
    return json_response(search_results(patients), keep_nulls=True)


# --- query/batch (CSV) ------------------------------------------------------------------------------------
SEARCH_HEADERS = (
    "Study Instance UID",
    "Accession Number",
    "Study Date",
    "Patient ID",
    "Last Name",
    "First Name",
    "DOB",
    "Modality",
)


def _clear(value: str) -> str:
    """removeExtraQuotes: the 3x clear signifier becomes the plain one."""
    return CLEAR_SIGNIFIER if value == CLEAR_SIGNIFIER_3X else value


def _csv_date_range(value: str) -> dict[str, str] | None:
    """getDateRange: any ``-`` separates start and end; both blank → no criterion."""
    if "-" not in value:
        return {"start": value, "end": value}
    start, _, end = value.partition("-")
    if not start.strip() and not end.strip():
        return None
    return {"start": start.strip(), "end": end.strip()}


def csv_rows(text: str) -> tuple[list[str], list[list[str]]]:
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        stop(400, "Uploaded file must be a CSV with a header row")
    return [cell.strip() for cell in rows[0]], rows[1:]


def row_criteria(headers: list[str], row: list[str]) -> dict[str, Any] | None:
    def cell(name: str) -> str:
        index = headers.index(name) if name in headers else -1
        return row[index].strip() if 0 <= index < len(row) else ""

    body: dict[str, Any] = {}
    if cell("Study Instance UID"):
        body["studyInstanceUid"] = _clear(cell("Study Instance UID"))
    if cell("Accession Number"):
        body["accessionNumber"] = _clear(cell("Accession Number"))
    if cell("Last Name") or cell("First Name"):
        first, last = cell("First Name"), cell("Last Name")
        body["patientName"] = _clear(f"{last},{first}" if first else last)
    if cell("Patient ID"):
        body["patientId"] = _clear(cell("Patient ID"))
    if cell("Study Date"):
        date_range = _csv_date_range(cell("Study Date"))
        if date_range is not None:
            body["studyDateRange"] = date_range
    if cell("DOB"):
        body["dob"] = _clear(cell("DOB"))
    if cell("Modality"):
        body["modality"] = _clear(cell("Modality"))
    return body or None


def relabel_map(headers: list[str], row: list[str]) -> dict[str, str]:
    """FIND_ROW_PROCESSOR: header → value for the non-blank relabel cells; clear signifiers → ``""``."""
    mapped = {}
    for header in HEADER_TO_TAGS:
        if header in headers:
            index = headers.index(header)
            value = row[index].strip() if index < len(row) else ""
            if value:
                mapped[header] = CLEAR_SIGNIFIER if value in (CLEAR_SIGNIFIER, CLEAR_SIGNIFIER_3X) else value
    return mapped


def criteria_json(criteria: dict[str, Any]) -> dict[str, Any]:
    """The criteria of a FindRow (PacsSearchCriteria NON_NULL; the range as DqrDateRangeSerializer writes)."""
    answer = {key: value for key, value in criteria.items() if key in CRITERIA_FIELDS}
    answer["pacsId"] = criteria.get("pacsId")
    study_date = criteria.get("studyDate")
    if study_date:
        start, _, end = study_date.partition("-") if "-" in study_date else (study_date, "", study_date)
        answer["studyDateRange"] = non_blank({"start": iso_date(start), "end": iso_date(end)})
    return answer


@blueprint.route("/xapi/dqr/query/batch", methods=["POST"])
def query_batch() -> Response:
    require_dqr_user()
    upload = request.files.get("csv_to_store")
    if upload is None:
        stop(400, "Required request part 'csv_to_store' is not present")
    pacs_id = request.values.get("pacsId")
    if pacs_id in (None, ""):
        stop(400, "Required Long parameter 'pacsId' is not present")
    allow_all = parse_bool(request.values.get("allowRowThatGetsAllStudiesOnPacs", "false")) is True
    current = state()
    pacs = queryable_pacs(current, pacs_id)
    peer = peer_for(current, pacs)
    headers, rows = csv_rows(upload.read().decode("utf-8-sig"))
    if len(rows) > MAX_CSV_ROWS:
        stop(400, f"The CSV has {len(rows)} rows; at most {MAX_CSV_ROWS} can be queried at once")
    answer = []
    for row in rows:
        body = row_criteria(headers, row)
        if body is None and not allow_all:
            continue  # "No search criteria found for row."
        criteria = criteria_from({**(body or {}), "pacsId": pacs["id"]})
        try:
            studies = find_studies(peer, criteria)
        except QueryError:
            continue  # DataFormatException: the row is left out (logged by XNAT)
        answer.append(
            {
                "criteria": criteria_json(criteria),
                "relabelMap": relabel_map(headers, row),
                "studies": studies,
            }
        )
    response = json_response(answer)
    if all(not row["relabelMap"] for row in answer):
        response.headers["Warning"] = NO_ANON_SCRIPT_WARNING
    return response
