"""Errors raised while parsing or running a DicomEdit script."""

from __future__ import annotations

from collections.abc import Sequence


class DicomEditError(Exception):
    """Base class for every DicomEdit error."""


class PlacedError(DicomEditError):
    """An error at a place in a script: ``source:line:column: reason``."""

    def __init__(self, reason: str, *, source: str, line: int, column: int, message: str) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.reason = reason
        super().__init__(f"{source}:{line}:{column}: {message}")


class DicomEditSyntaxError(PlacedError):
    """The script is not valid DicomEdit 6: names the place, the offending text and what was expected."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "<script>",
        line: int = 0,
        column: int = 0,
        text: str = "",
        expected: Sequence[str] = (),
    ) -> None:
        self.text = text
        self.expected = list(expected)
        super().__init__(message, source=source, line=line, column=column, message=message)


class DicomEditVersionError(DicomEditSyntaxError):
    """The script is written for a DicomEdit version this engine does not run (e.g. DicomEdit 4)."""


# What a failing statement means on XNAT: DicomEdit raises, the anonymisation of that file fails and XNAT
# does not archive it (dicom-edit6 returns an AnonymizationResultError).
NOT_ARCHIVED = "DicomEdit stops here, so XNAT would not archive the file"


class DicomEditRuntimeError(PlacedError):
    """A statement failed while being applied to a dataset (unknown function, bad argument, ...).

    Wherever this engine raises it, upstream DicomEdit fails too: the message says so and what to fix.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "<script>",
        line: int = 0,
        column: int = 0,
        consequence: str = NOT_ARCHIVED,
    ) -> None:
        self.consequence = consequence
        super().__init__(
            message, source=source, line=line, column=column, message=f"{message} ({consequence})"
        )


class DicomEditRejectionError(DicomEditRuntimeError):
    """``reject[]`` ran: the script asks XNAT not to archive this file. Not a script fault."""

    def __init__(self, *, source: str = "<script>", line: int = 0, column: int = 0) -> None:
        super().__init__(
            "reject[] was called for this file",
            source=source,
            line=line,
            column=column,
            consequence="XNAT does not archive a rejected file; the script asked for that",
        )


class ScriptError(DicomEditError):
    """A script that cannot be used: unreadable, not UTF-8, DicomEdit 4 or not valid DicomEdit 6.

    The one error :mod:`compliance.dicomedit.loader` raises; the message starts with where
    (``source``, with ``:line:column`` when known) and ends with what to do.
    """

    def __init__(
        self, problem: str, *, source: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem
        where = source if line is None else f"{source}:{line}:{column}"
        super().__init__(f"{where}: {problem}")
