"""Resolve validated CSV rows through DQR to one study each, choose series and labels: the import plan.

Per row: the DQR study query (C-FIND) must find exactly one study; none or several refuse the row (several
are never narrowed to the first). The series query lists the study's series, the exclusion rules drop
dose reports and the like, and the labels are the CSV's or keyed pseudonyms. A label that equals the
study's accession number or patient ID, a study already planned by an earlier row, or a session label that
already exists in the project refuses the row. Nothing is imported.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from compliance.importer.csvrows import CsvCheck, CsvRow
from compliance.importer.dqr import DqrAccessError, DqrClient, DqrError, Pacs, Series, Study
from compliance.importer.exclusions import RuleSet
from compliance.importer.labels import PseudonymKey, session_pseudonym
from compliance.importer.planfile import READY, REFUSED, Identifiers, Plan, PlanRow, SeriesChoice

DQR_IDENTIFIER = "dqrObjectIdentifier"
SERIES_CHUNK = 5  # study UIDs per series query: DQR C-FINDs them one after another in the request


class PlanningError(Exception):
    """The plan cannot be made at all (PACS, receiver, access): nothing was imported."""


@dataclass(frozen=True)
class PlanRequest:
    xnat: str
    project: str
    pacs_label: str
    receiver: tuple[str, int] | None  # AE title and port, or None to find the DQR receiver
    rules: RuleSet
    key: PseudonymKey | None
    workers: int = 4


@dataclass
class _Resolution:
    """A CSV row on its way to a PlanRow."""

    csv: CsvRow
    studies: list[Study]
    refusal: tuple[str, str] | None = None  # (code, reason)
    series: list[Series] | None = None


def build_plan(check: CsvCheck, client: DqrClient, request: PlanRequest) -> tuple[Plan, list[Identifiers]]:
    pacs = client.pacs(request.pacs_label)
    if not pacs.queryable:
        raise PlanningError(
            f"PACS '{pacs.label}' is not queryable in XNAT's DQR settings; nothing can be imported"
        )
    receiver = _receiver(client, request.receiver)
    resolutions = _query_studies(check.rows, client, pacs, request.workers)
    _refuse_repeated_studies(resolutions)
    _query_series(resolutions, client, pacs)
    existing = _existing_labels(client, request.project)
    rows: list[PlanRow] = [PlanRow(problem.row, REFUSED, "csv", problem.reason) for problem in check.problems]
    identifiers: list[Identifiers] = []
    sessions: dict[str, int] = {}
    for resolution in resolutions:
        row = _plan_row(resolution, request, pacs, existing, sessions)
        rows.append(row)
        if row.ready:
            identifiers.append(_identifiers(row, resolution.studies[0]))
    plan = Plan(
        job=f"imp-{secrets.token_hex(4)}",
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        xnat=request.xnat.rstrip("/"),
        project=request.project,
        pacs_id=pacs.id,
        pacs_label=pacs.label,
        pacs_retrieve_level=pacs.retrieve_level or "",
        receiver_ae=receiver[0],
        receiver_port=receiver[1],
        csv_source=check.source,
        csv_sha256=check.sha256,
        key_id=request.key.key_id if request.key else "",
        exclusion_rules=request.rules.to_json(),
        notes=tuple(_notes(request.rules, resolutions, pacs)),
        rows=tuple(sorted(rows, key=lambda row: row.row)),
    )
    return plan, identifiers


def _receiver(client: DqrClient, chosen: tuple[str, int] | None) -> tuple[str, int]:
    """The receiver DQR C-MOVEs to: the one asked for, else the only enabled DQR receiver."""
    if chosen is not None:
        return chosen
    try:
        receivers = client.receivers()
    except DqrAccessError as error:
        raise PlanningError(f"{error}\nOr name the receiver with --receiver AE:PORT") from error
    fit = [r for r in receivers if r.enabled and r.custom_processing and r.identifier == DQR_IDENTIFIER]
    if len(fit) == 1:
        return fit[0].ae_title, fit[0].port
    listed = ", ".join(f"{r.ae_title}:{r.port}" for r in receivers) or "none"
    if not fit:
        raise PlanningError(
            "XNAT has no enabled DICOM receiver with custom processing on and identifier "
            "dqrObjectIdentifier, which DQR needs to route relabelled studies into the project (receivers: "
            f"{listed}); configure one (xnat_dicom_receiver) or name it with --receiver AE:PORT"
        )
    raise PlanningError(f"several DQR receivers fit ({listed}); choose one with --receiver AE:PORT")


def _query_studies(rows: Iterable[CsvRow], client: DqrClient, pacs: Pacs, workers: int) -> list[_Resolution]:
    def resolve(row: CsvRow) -> _Resolution:
        try:
            return _Resolution(row, client.query_studies(pacs.id, row.criteria))
        except DqrAccessError:
            raise
        except DqrError as error:
            return _Resolution(row, [], ("query-failed", f"the study query failed: {error}"))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        resolutions = list(pool.map(resolve, rows))
    for resolution in resolutions:
        if resolution.refusal is None:
            resolution.refusal = _count_refusal(len(resolution.studies), pacs)
    return resolutions


def _count_refusal(found: int, pacs: Pacs) -> tuple[str, str] | None:
    if found == 0:
        return "no-study", f"no study on PACS '{pacs.label}' matched the row's search"
    if found > 1:
        return (
            "many-studies",
            f"{found} studies on PACS '{pacs.label}' matched the row's search; none is taken: add a Study "
            "Instance UID column or narrow the Study Date to name one study",
        )
    return None


def _refuse_repeated_studies(resolutions: list[_Resolution]) -> None:
    first_row: dict[str, int] = {}
    for resolution in resolutions:
        if resolution.refusal is not None:
            continue
        uid = resolution.studies[0].study_instance_uid
        if uid in first_row:
            resolution.refusal = (
                "duplicate-study",
                f"the same study as row {first_row[uid]}: it is imported once",
            )
        else:
            first_row[uid] = resolution.csv.row


def _query_series(resolutions: list[_Resolution], client: DqrClient, pacs: Pacs) -> None:
    pending = [resolution for resolution in resolutions if resolution.refusal is None]
    for start in range(0, len(pending), SERIES_CHUNK):
        chunk = pending[start : start + SERIES_CHUNK]
        uids = [resolution.studies[0].study_instance_uid for resolution in chunk]
        try:
            found = client.query_series(pacs.id, uids)
        except DqrAccessError:
            raise
        except DqrError as error:
            for resolution in chunk:
                resolution.refusal = ("query-failed", f"the series query failed: {error}")
            continue
        for resolution, uid in zip(chunk, uids, strict=True):
            resolution.series = found.get(uid) or []
            if not resolution.series:
                resolution.refusal = ("no-series", f"PACS '{pacs.label}' listed no series for the study")


def _existing_labels(client: DqrClient, project: str) -> set[str]:
    try:
        return client.experiment_labels(project)
    except DqrAccessError:
        raise
    except DqrError as error:
        raise PlanningError(f"cannot list the experiments of project {project}: {error}") from error


class _RefusedError(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _plan_row(
    resolution: _Resolution, request: PlanRequest, pacs: Pacs, existing: set[str], sessions: dict[str, int]
) -> PlanRow:
    row = resolution.csv
    if resolution.refusal is not None:
        return PlanRow(row.row, REFUSED, *resolution.refusal, candidates=len(resolution.studies))
    study = resolution.studies[0]
    kept, excluded = _choose_series(resolution.series or [], request.rules)
    planned = PlanRow(
        row.row,
        READY,
        study_uid=study.study_instance_uid,
        modalities=study.modalities,
        series=tuple(kept),
        excluded=tuple(excluded),
        candidates=1,
    )
    try:
        _check_series(kept, excluded, pacs)
        subject, session, source = _labels(row, study, request)
        planned = replace(
            planned,
            subject=subject,
            session=session,
            label_source=source,
            relabel=_relabel(row, subject, session),
        )
        _check_label_unused(row.row, session, existing, sessions)
    except _RefusedError as refusal:
        return replace(planned, status=REFUSED, code=refusal.code, reason=refusal.reason)
    return planned


def _choose_series(series: list[Series], rules: RuleSet) -> tuple[list[SeriesChoice], list[SeriesChoice]]:
    kept, excluded = [], []
    for entry in series:
        choice = SeriesChoice(
            entry.series_instance_uid, entry.number, entry.modality, entry.description, entry.instances
        )
        verdict = rules.judge(entry)
        if verdict is None:
            kept.append(choice)
        else:
            excluded.append(
                replace(choice, rule=verdict.rule, reason=verdict.reason, matched=verdict.matched)
            )
    return kept, excluded


def _check_series(kept: list[SeriesChoice], excluded: list[SeriesChoice], pacs: Pacs) -> None:
    if not kept:
        raise _RefusedError(
            "all-excluded",
            f"every series of the study is excluded ({len(excluded)} series): nothing to import",
        )
    if excluded and pacs.retrieve_level == "STUDY":
        raise _RefusedError(
            "study-level-pacs",
            f"PACS '{pacs.label}' retrieves whole studies (retrieveLevel STUDY), so DQR cannot leave out "
            f"the {len(excluded)} excluded series; import it by hand or set the PACS to SERIES",
        )


def _labels(row: CsvRow, study: Study, request: PlanRequest) -> tuple[str, str, str]:
    """(subject, session, where they came from: csv, pseudonym or csv+pseudonym)."""
    subject, session = row.subject, row.session
    sources = {"csv"} if (subject or session) else set()
    if subject is None or session is None:
        if request.key is None:
            raise _RefusedError(
                "label", "the row has no Subject/Session label and no pseudonym key was given"
            )
        patient = study.patient_id or row.criteria.get("patientId", "")
        if subject is None and not patient:
            raise _RefusedError(
                "label",
                "the PACS gave no patient ID for the study, so no subject pseudonym can be made: add a "
                "Subject",
            )
        subject = subject or request.key.subject(request.project, patient)
        if session is None:
            session = session_pseudonym(
                request.key,
                request.project,
                accession_number=row.criteria.get("accessionNumber") or study.accession_number,
                study_instance_uid=study.study_instance_uid,
            )
        sources.add("pseudonym")
    identifiers = {value for value in (study.accession_number, study.patient_id, *row.identifiers()) if value}
    if {subject, session} & identifiers:
        raise _RefusedError(
            "label",
            "a label is the study's accession number or patient ID: no hospital identifier may become an "
            "XNAT label; leave the CSV's Subject/Session empty for keyed pseudonyms",
        )
    return subject, session, "+".join(sorted(sources))


def _relabel(row: CsvRow, subject: str, session: str) -> dict[str, str]:
    return {"Subject": subject, "Session": session, **row.relabel}


def _check_label_unused(number: int, session: str, existing: set[str], sessions: dict[str, int]) -> None:
    if session in existing:
        raise _RefusedError(
            "already-archived",
            "the project already has a session with this row's label; it is not imported again",
        )
    if session in sessions:
        raise _RefusedError(
            "duplicate-label",
            f"the same Session label as row {sessions[session]}: Session labels must be unique",
        )
    sessions[session] = number


def _identifiers(row: PlanRow, study: Study) -> Identifiers:
    return Identifiers(
        row=row.row,
        subject=row.subject,
        session=row.session,
        accession_number=study.accession_number,
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        study_instance_uid=study.study_instance_uid,
        study_date=study.study_date,
    )


def _notes(rules: RuleSet, resolutions: list[_Resolution], pacs: Pacs) -> Iterable[str]:
    listed = [series for resolution in resolutions for series in resolution.series or []]
    if rules.uses_sop_classes and any(not series.sop_classes for series in listed):
        yield (
            "SOP-class rules were not applied: DQR's series answer carries no SOP class; modality and "
            "series-description rules were"
        )
    if not rules.rules:
        yield "no exclusion rules: dose reports and screen captures are imported"
    if pacs.retrieve_level == "STUDY":
        yield f"PACS '{pacs.label}' retrieves whole studies: only rows with no excluded series are planned"
