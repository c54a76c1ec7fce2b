"""XNAT labels for imported studies: the CSV's, or keyed pseudonyms that no hospital identifier becomes.

A pseudonym is HMAC-SHA256 with the trust's secret over the project and the PACS patient ID (subject) or,
for a session, the study's accession number (StudyInstanceUID when the study has none): the same patient
gets the same subject label in a project, different projects get unlinkable labels, and nobody without the
secret can go from a label back to the patient. Because the session label is derived from the accession
number, ``enclave fetch`` (and its ``get_by_accession_number``) finds a session by the accession number
MLOps code asks with, through :func:`session_pseudonym`, while XNAT never stores the number. The secret
comes from a file (``--pseudonym-key-file`` or ``$ENCLAVE_PSEUDONYM_KEY_FILE``) or ``$ENCLAVE_PSEUDONYM_KEY``,
never from the command line, and is never written anywhere.

Label rules: XNAT labels are letters, digits, ``_`` and ``-``. DQR's relabel writes Subject into PatientName
and PatientID (LO, 64 characters) and Session into StudyID and AccessionNumber (SH, 16 characters).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

KEY_ENV = "ENCLAVE_PSEUDONYM_KEY"
KEY_FILE_ENV = "ENCLAVE_PSEUDONYM_KEY_FILE"
MIN_KEY_BYTES = 32
XNAT_LABEL = re.compile(r"[A-Za-z0-9_-]+")
MAX_LENGTH = {"Subject": 64, "Session": 16}
PREFIX = {"Subject": "S", "Session": "E"}
DIGEST_CHARACTERS = 12  # 48 bits: a collision inside one project is checked for, and vanishingly rare
OTHERS_MAY_READ = stat.S_IRWXO


class PseudonymKeyError(Exception):
    """The pseudonym secret is missing, too short or readable by everyone."""


def label_problem(kind: str, value: str) -> str | None:
    """Why ``value`` cannot be an XNAT ``kind`` label (Subject or Session), or None."""
    if not XNAT_LABEL.fullmatch(value):
        return f"the {kind} label may hold only letters, digits, '_' and '-' (XNAT's label rule)"
    if len(value) > MAX_LENGTH[kind]:
        tags = "PatientID and PatientName" if kind == "Subject" else "StudyID and AccessionNumber"
        return f"the {kind} label is longer than {MAX_LENGTH[kind]} characters, the most DICOM's {tags} hold"
    return None


@dataclass(frozen=True)
class PseudonymKey:
    secret: bytes = field(repr=False)
    origin: str

    @property
    def key_id(self) -> str:
        """Names the key in plans (to notice a changed key) without revealing it."""
        return self._digest("key-id")[:DIGEST_CHARACTERS]

    def subject(self, project: str, patient_id: str) -> str:
        return PREFIX["Subject"] + self._digest("subject", project, patient_id)[:DIGEST_CHARACTERS]

    def session(self, project: str, study_instance_uid: str) -> str:
        """The session pseudonym of a study without an accession number."""
        return PREFIX["Session"] + self._digest("session", project, study_instance_uid)[:DIGEST_CHARACTERS]

    def session_from_accession(self, project: str, accession_number: str) -> str:
        """The session pseudonym of a study with an accession number (see :func:`session_pseudonym`)."""
        return (
            PREFIX["Session"]
            + self._digest("session-accession", project, accession_number)[:DIGEST_CHARACTERS]
        )

    def _digest(self, *parts: str) -> str:
        message = "\x1f".join(("xnat-enclave", *parts)).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest().upper()


def session_pseudonym(
    key: PseudonymKey, project: str, *, accession_number: str | None = None, study_instance_uid: str = ""
) -> str:
    """The Session label of a study: keyed on project + accession number when there is one (what
    ``enclave import`` labels and ``enclave fetch`` looks up), else on project + StudyInstanceUID.

    Surrounding spaces of the accession number do not count (DICOM pads SH values to even length).
    """
    accession = (accession_number or "").strip()
    if accession:
        return key.session_from_accession(project, accession)
    if not study_instance_uid:
        raise ValueError("a session pseudonym needs the accession number or the StudyInstanceUID")
    return key.session(project, study_instance_uid)


def load_key(path: Path | None, environ: dict[str, str] | None = None) -> PseudonymKey:
    """The secret from ``path``, else ``$ENCLAVE_PSEUDONYM_KEY_FILE``, else ``$ENCLAVE_PSEUDONYM_KEY``."""
    environ = dict(os.environ if environ is None else environ)
    if path is None and environ.get(KEY_FILE_ENV):
        path = Path(environ[KEY_FILE_ENV])
    if path is not None:
        return _key_from_file(path)
    if environ.get(KEY_ENV):
        return _checked(environ[KEY_ENV].encode(), f"${KEY_ENV}")
    raise PseudonymKeyError(
        "no pseudonym key: rows without Subject/Session labels get keyed pseudonyms; give "
        f"--pseudonym-key-file FILE, or set {KEY_FILE_ENV} or {KEY_ENV} (the trust's secret, at least "
        f"{MIN_KEY_BYTES} bytes, kept in the vault)"
    )


def _key_from_file(path: Path) -> PseudonymKey:
    try:
        mode = path.stat().st_mode
        secret = path.read_bytes().strip()
    except OSError as error:
        raise PseudonymKeyError(
            f"{path}: cannot read the pseudonym key ({error.strerror or error})"
        ) from error
    if mode & OTHERS_MAY_READ:
        raise PseudonymKeyError(
            f"{path}: the pseudonym key is open to every account on this host (mode "
            f"{stat.S_IMODE(mode):04o}); chmod o-rwx {path} (readable by the data manager's group at most)"
        )
    return _checked(secret, str(path))


def _checked(secret: bytes, origin: str) -> PseudonymKey:
    if len(secret) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"{origin}: the pseudonym key has {len(secret)} bytes; use at least {MIN_KEY_BYTES} random "
            "bytes (e.g. openssl rand -hex 32)"
        )
    return PseudonymKey(secret, origin)
