"""Errors raised while parsing or running a DicomEdit script."""

from __future__ import annotations

from collections.abc import Sequence


class DicomEditError(Exception):
    """Base class for every DicomEdit error."""


class DicomEditSyntaxError(DicomEditError):
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
        self.source = source
        self.line = line
        self.column = column
        self.text = text
        self.expected = list(expected)
        self.reason = message
        super().__init__(f"{source}:{line}:{column}: {message}")


class DicomEditVersionError(DicomEditSyntaxError):
    """The script is written for a DicomEdit version this engine does not run (e.g. DicomEdit 4)."""


class DicomEditRuntimeError(DicomEditError):
    """A statement failed while being applied to a dataset (unknown function, bad argument, ...)."""

    def __init__(self, message: str, *, source: str = "<script>", line: int = 0, column: int = 0) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(f"{source}:{line}:{column}: {message}")


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
