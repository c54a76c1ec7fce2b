"""The Python side of ``enclave fetch``, shaped like FLIP's flip-utils so training code can swap it in.

```python
from compliance.fetch import FetchClient, get_by_accession_number

path = get_by_accession_number("CARDIO01", "ACC00042", "NIFTI")  # XNAT_URL, ENCLAVE_FETCH_DIR from the env
with FetchClient("https://xnat.trust", out="/srv/fetch") as client:  # one login for many sessions
    for accession in cohort:
        path = client.get_by_accession_number("CARDIO01", accession, "NIFTI")
```

Credentials come from XNAT_USER/XNAT_PASS or ~/.netrc (``compliance.xnat.session``); the pseudonym key from
``pseudonym_key_file``, ``$ENCLAVE_PSEUDONYM_KEY_FILE`` or ``$ENCLAVE_PSEUDONYM_KEY`` (optional: without it
sessions are found by ``dcmAccessionNumber`` or label only). A failure raises :class:`FetchError`; scans
that lack the resource are logged as warnings and the path is returned.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from compliance.fetch.errors import FetchError, redact_accession
from compliance.fetch.fetcher import FetchResult, SessionFetch
from compliance.fetch.resolve import find_by_accession, find_by_label
from compliance.fetch.xnat_io import Reader
from compliance.importer.labels import KEY_ENV, KEY_FILE_ENV, PseudonymKey, PseudonymKeyError, load_key
from compliance.importer.redact import Redactor
from compliance.progress import Progress
from compliance.xnat.session import XnatReadError, connect, disconnect, find_credentials

LOGGER = logging.getLogger("compliance.fetch")
URL_ENV = "XNAT_URL"
OUT_ENV = "ENCLAVE_FETCH_DIR"
DEFAULT_OUT = "enclave-fetch"
RESOURCE_LABEL_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def optional_key(path: Path | None, environ: dict[str, str] | None = None) -> PseudonymKey | None:
    """The trust's pseudonym key if one is configured; a configured but unusable key is an error."""
    environ = dict(os.environ if environ is None else environ)
    if path is None and not environ.get(KEY_FILE_ENV) and not environ.get(KEY_ENV):
        return None
    try:
        return load_key(path, environ)
    except PseudonymKeyError as error:
        raise FetchError(str(error)) from error


def check_resource(label: str) -> str:
    """Resource labels are RFC 3986 unreserved characters only (FLIP#908: ``..`` in ids reached other
    URLs)."""
    if not label or not set(label) <= RESOURCE_LABEL_CHARACTERS or label in (".", ".."):
        raise FetchError(f"resource {label!r}: use a resource label such as NIFTI or DICOM")
    return label


class FetchClient:
    """One xnatpy login to ``xnat_url``; every fetch writes under ``out``."""

    def __init__(
        self,
        xnat_url: str,
        out: str | Path,
        *,
        pseudonym_key: PseudonymKey | None = None,
        pseudonym_key_file: str | Path | None = None,
        verify: bool | str = True,
        session: Any = None,
    ) -> None:
        self.url = xnat_url.rstrip("/")
        self.out = Path(out)
        self.key = pseudonym_key or optional_key(Path(pseudonym_key_file) if pseudonym_key_file else None)
        self.redactor = Redactor()
        self._owned = session is None
        try:
            self._session = session or connect(self.url, find_credentials(self.url), verify=verify)
        except XnatReadError as error:
            raise FetchError(str(error)) from error
        self.reader = Reader(self._session, self.url, self.redactor)

    def close(self) -> None:
        if self._owned:
            disconnect(self._session, self.url)

    def __enter__(self) -> FetchClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def fetch(
        self,
        project: str,
        resources: Sequence[str],
        *,
        accession_number: str | None = None,
        label: str | None = None,
        progress: Progress | None = None,
    ) -> FetchResult:
        """Fetch one session (by accession number or by label); never raises for the session's problems:
        they are in the result's ``errors`` and ``findings``."""
        progress = progress or Progress()
        wanted = [check_resource(resource) for resource in resources]
        if accession_number is not None:
            self.redactor.add(accession_number)
            asked = f"accession {redact_accession(accession_number)}"
        else:
            asked = f"label {label}"
        result = FetchResult(project, None, None, asked)
        try:
            if accession_number is not None:
                found = find_by_accession(self.reader, project, accession_number, self.key)
            else:
                found = find_by_label(self.reader, project, str(label))
            result.session = found
            SessionFetch(self.reader, found, wanted, self.out, progress).run(result)
        except FetchError as error:
            result.errors.append(self.redactor(str(error)))
        result.errors = [self.redactor(text) for text in result.errors]
        result.findings = [self.redactor(text) for text in result.findings]
        return result

    def get_by_accession_number(
        self, project: str, accession_number: str, resource_type: str | Sequence[str] = "NIFTI"
    ) -> Path:
        """FLIP's ``get_by_accession_number``: the folder of the session, with one folder per scan."""
        resources = [resource_type] if isinstance(resource_type, str) else list(resource_type)
        result = self.fetch(project, resources, accession_number=accession_number)
        for finding in result.findings:
            LOGGER.warning("%s", finding)
        if result.errors or result.path is None:
            raise FetchError(
                "; ".join(result.errors) or f"project {project}: nothing fetched for {result.asked}"
            )
        return result.path


def get_by_accession_number(
    project: str,
    accession_number: str,
    resource_type: str | Sequence[str] = "NIFTI",
    *,
    xnat_url: str | None = None,
    out: str | Path | None = None,
    pseudonym_key_file: str | Path | None = None,
    verify: bool | str = True,
) -> Path:
    """Fetch the session of ``accession_number`` in ``project`` and return its folder (FLIP's shape).

    ``xnat_url`` defaults to ``$XNAT_URL``, ``out`` to ``$ENCLAVE_FETCH_DIR`` or ``./enclave-fetch``.
    """
    url = xnat_url or os.environ.get(URL_ENV)
    if not url:
        raise FetchError(f"no XNAT URL: pass xnat_url or set {URL_ENV}")
    target = Path(out or os.environ.get(OUT_ENV) or DEFAULT_OUT)
    with FetchClient(url, target, pseudonym_key_file=pseudonym_key_file, verify=verify) as client:
        return client.get_by_accession_number(project, accession_number, resource_type)
