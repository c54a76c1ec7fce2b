"""What can go wrong in a fetch: errors stop the command (exit 2), findings are reported (exit 1)."""

from __future__ import annotations

KEEP_VISIBLE = 2  # trailing characters of an accession number a message may show


class FetchError(Exception):
    """The fetch could not do its job; the message names the session, scan or file and what to do."""


class SessionNotFoundError(FetchError):
    """No XNAT session matches the accession number or label."""


class UnsafeArchiveError(FetchError):
    """XNAT's zip holds a member that would escape --out, a link, or something the listing does not name."""


class VerificationError(FetchError):
    """A downloaded file's size or digest differs from XNAT's file listing."""


def redact_accession(accession_number: str) -> str:
    """``ACC00042`` becomes ``******42``: enough to tell two of one's own requests apart, no more."""
    value = accession_number.strip()
    if len(value) <= KEEP_VISIBLE * 2:
        return "*" * len(value) or "(empty)"
    return "*" * (len(value) - KEEP_VISIBLE) + value[-KEEP_VISIBLE:]
