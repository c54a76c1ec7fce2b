"""The one way the `enclave` commands read a DicomEdit script: from a file or from text (e.g. fetched
from XNAT), parsed, every failure raised as :class:`ScriptError` with one wording per kind of failure."""

from __future__ import annotations

from pathlib import Path

from compliance.dicomedit import ast
from compliance.dicomedit.errors import DicomEditSyntaxError, DicomEditVersionError, ScriptError
from compliance.dicomedit.parser import parse


def load_script(path: Path) -> ast.Script:
    """Read ``path`` as UTF-8 and parse it; ScriptError names the file and, where known, line:column."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ScriptError(
            f"cannot read the script ({error.strerror or error}); check the path and the file's permissions",
            source=source,
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _line_and_column(data, error.start)
        raise ScriptError(
            f"the script is not UTF-8 text (byte 0x{data[error.start]:02X}); save it as UTF-8",
            source=source,
            line=line,
            column=column,
        ) from None
    return load_script_text(text, source)


def load_script_text(text: str, source: str) -> ast.Script:
    """Parse script text; ``source`` names where it came from in the ScriptError and the reports."""
    try:
        return parse(text, source=source)
    except DicomEditVersionError as error:
        raise _script_error("the script is not DicomEdit 6", error) from error
    except DicomEditSyntaxError as error:
        raise _script_error("the script does not parse", error) from error


def _script_error(headline: str, error: DicomEditSyntaxError) -> ScriptError:
    # The parser's reason already says what was expected or what to rewrite.
    line = error.line or None
    return ScriptError(
        f"{headline}: {error.reason}",
        source=error.source,
        line=line,
        column=error.column if line else None,
    )


def _line_and_column(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character column of byte ``offset`` (characters decoded leniently)."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def unknown_function_calls(node: ast.Node) -> list[ast.FunctionCall]:
    """Calls of functions DicomEdit 6 does not have: XNAT fails on them for every file it receives."""
    from compliance.dicomedit.functions import KNOWN_FUNCTIONS  # noqa: PLC0415 - the engine loads on use

    calls = (inner for inner in ast.walk(node) if isinstance(inner, ast.FunctionCall))
    return [call for call in calls if call.name not in KNOWN_FUNCTIONS]


def refuse_unknown_functions(script: ast.Script, source: str) -> ast.Script:
    """The script, or a ScriptError naming each call of a function DicomEdit 6 does not have."""
    unknown = unknown_function_calls(script)
    if unknown:
        first = unknown[0]
        names = ", ".join(f"{call.name}[...] (line {call.line})" for call in unknown)
        raise ScriptError(
            f"the script calls functions DicomEdit 6 does not have: {names}; XNAT would fail on every "
            "file it receives (`enclave anon lint` reports the same)",
            source=source,
            line=first.line,
            column=first.column,
        )
    return script
