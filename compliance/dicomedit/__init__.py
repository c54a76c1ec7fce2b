"""DicomEdit 6 engine: parser (Lark grammar -> AST with line/column) and interpreter on pydicom datasets.

Supported language (DicomEdit 6.0-6.7, as run by XNAT 1.7.3+; one statement per line):

* ``version "6.3"`` (an unknown value is an error; a second version line is kept in the AST);
* ``(gggg,eeee) := value``, ``(gggg,eeee) ?= value`` (only if present), ``-(gggg,eeee)`` (delete);
* variables ``NAME := value`` (lists ``{a, b}`` allowed), ``describe NAME "label"`` / ``hidden`` /
  ``const`` / ``immutable``, ``export NAME "field"``; XNAT's ``project``, ``subject``, ``session`` and
  ``modalityLabel`` come from ``apply_script(..., variables=...)``;
* function calls ``name[arg, ...]`` as values or statements, ``echo value``, ``removeAllPrivateTags``;
* conditions ``a = b``, ``!=``, ``~`` (regex), ``!~`` or a boolean function, used as
  ``cond ? action`` / ``cond ? action : action`` and ``if (cond) {...} elseif (cond) {...} else {...}``;
* tag paths: private tags with creator ``(0019,{SIEMENS MR HEADER}0F)``; wildcard hex digits ``X``/``x``
  (any), ``#`` (odd), ``@`` (even); sequences ``(0008,1115)[0]/(0008,1155)`` with item index or ``%``
  (any item); ``+/`` (inside any sequence, not top level) and ``*/`` (any depth, top level included);
* values: ``"strings"`` with backslash escapes, integers, floats, tag paths, variables, calls, lists;
  ``//`` comments.

DicomEdit 4 scripts (no version line, ``cond : action``, ``new UID``) raise DicomEditVersionError.

Functions (dicom-edit6 semantics): hashUID (XNAT's exact SHA-1 name-based UUID -> ``2.25.<decimal>``),
hashUIDList, newUID, mapUID, mapReferencedUIDs (same new UID for the same old one per Script/Interpreter),
format (Java MessageFormat ``{n}``), lowercase, uppercase, substring, concatenate, replace (literal),
match, ismatch, isPresent, set, removeTags/delete, blankValues (empties every element holding one of the
given *values*), retainPrivateTags, shiftDateByIncrement, shiftDateTimeByIncrement,
shiftDateTimeSequenceByIncrement, alterPixels (solid rectangles), true, false. Other DicomEdit 6 names
(lookup, reject, ...) and unknown names raise DicomEditRuntimeError with the call's line and column.
The ``.`` sequence prefix is taken as "exactly one sequence level" (its meaning is unconfirmed upstream).

    from compliance.dicomedit import load_script, apply_script
    script = load_script(Path("site.das"))  # or load_script_text(text, source=...); ScriptError if unusable
    apply_script(script, dataset, {"project": "P1", "subject": "S1", "session": "E1"})

Commands read scripts only through ``load_script``/``load_script_text`` (compliance.dicomedit.loader),
which turn unreadable files, non-UTF-8 text, DicomEdit 4 and syntax errors into one ScriptError.
"""

from compliance.dicomedit import ast
from compliance.dicomedit.errors import (
    DicomEditError,
    DicomEditRuntimeError,
    DicomEditSyntaxError,
    DicomEditVersionError,
    ScriptError,
)
from compliance.dicomedit.functions import FUNCTIONS, KNOWN_FUNCTIONS, hash_uid
from compliance.dicomedit.interpreter import Interpreter, apply_script, collected_messages
from compliance.dicomedit.loader import load_script, load_script_text
from compliance.dicomedit.parser import SUPPORTED_VERSIONS, parse, parse_tag_path

__all__ = [
    "FUNCTIONS",
    "KNOWN_FUNCTIONS",
    "SUPPORTED_VERSIONS",
    "DicomEditError",
    "DicomEditRuntimeError",
    "DicomEditSyntaxError",
    "DicomEditVersionError",
    "Interpreter",
    "ScriptError",
    "apply_script",
    "ast",
    "collected_messages",
    "hash_uid",
    "load_script",
    "load_script_text",
    "parse",
    "parse_tag_path",
]
