"""Which XNAT session an accession number (or a label) names.

XNAT is asked by label and by ``dcmAccessionNumber``, on the site experiments listing
(``/data/experiments?project=P``: the project listing hides non-secure data types, FLIP#612):

1. the keyed pseudonym ``enclave import`` gave the study (``labels.session_pseudonym``, the trust's key), so
   XNAT never needs the accession number;
2. ``dcmAccessionNumber``, where the session kept the study's accession number;
3. the accession number as the label (FLIP labels sessions so; a label that leaks an identifier).

More than one session for one question is an error, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from compliance.fetch.errors import FetchError, SessionNotFoundError, redact_accession
from compliance.fetch.xnat_io import Reader
from compliance.importer.labels import XNAT_LABEL, PseudonymKey, session_pseudonym
from compliance.xnat import routes


@dataclass(frozen=True)
class FoundSession:
    id: str
    label: str
    project: str
    found_by: str  # "pseudonym label", "dcmAccessionNumber", "accession number as label", "label"


def _query(reader: Reader, project: str, how: str, **criteria: str) -> list[dict[str, str]]:
    rows = reader.rows(routes.EXPERIMENTS, {"project": project, **criteria})
    rows = [row for row in rows if str(row.get("project", project)) == project]
    if "label" in criteria:
        rows = [row for row in rows if str(row.get("label")) == criteria["label"]]
    if len(rows) > 1:
        raise FetchError(
            f"project {project}: {len(rows)} sessions match by {how} "
            f"({', '.join(sorted(str(row.get('label')) for row in rows))}); ask by session label instead"
        )
    return rows


def _found(row: dict[str, str], project: str, how: str) -> FoundSession:
    return FoundSession(str(row["ID"]), str(row["label"]), project, how)


def find_by_label(reader: Reader, project: str, label: str) -> FoundSession:
    rows = _query(reader, project, "label", label=label)
    if not rows:
        raise SessionNotFoundError(f"project {project} has no session labelled {label!r}")
    return _found(rows[0], project, "label")


def find_by_accession(
    reader: Reader, project: str, accession_number: str, key: PseudonymKey | None
) -> FoundSession:
    accession = accession_number.strip()
    if not accession:
        raise FetchError("the accession number is empty")
    if key is not None:
        pseudonym = session_pseudonym(key, project, accession_number=accession)
        rows = _query(reader, project, "pseudonym label", label=pseudonym)
        if rows:
            return _found(rows[0], project, "pseudonym label")
    rows = _query(reader, project, "dcmAccessionNumber", dcmAccessionNumber=accession)
    if rows:
        return _found(rows[0], project, "dcmAccessionNumber")
    if XNAT_LABEL.fullmatch(accession):
        rows = _query(reader, project, "accession number as label", label=accession)
        if rows:
            return _found(rows[0], project, "accession number as label")
    tried = "its keyed pseudonym label, " if key is not None else ""
    hint = (
        ""
        if key is not None
        else "; no pseudonym key was given (--pseudonym-key-file or $ENCLAVE_PSEUDONYM_KEY_FILE), so the "
        "label 'enclave import' gives such a study was not tried"
    )
    raise SessionNotFoundError(
        f"project {project}: no session for accession number {redact_accession(accession)} "
        f"(asked XNAT by {tried}dcmAccessionNumber and label){hint}"
    )
