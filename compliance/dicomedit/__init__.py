"""DicomEdit 6 engine: parser (Lark grammar -> AST with line/column) and interpreter on pydicom datasets.

Checked against cases ported from NRG's dicom-edit6 unit tests and NrgXnat/xnat-rest-tests' scripts
(tests/compliance/dicomedit/upstream/, ``scripts/dicomedit-agreement``). Supported language:

* ``version "6.x"``: 6.0-6.7 and 6.10 or later, as upstream's VersionManager (6.8/6.9 never existed);
* ``(gggg,eeee) := value``, ``(gggg,eeee) ?= value`` (only if present), ``-(gggg,eeee)`` (delete);
  statements are separated by line breaks or by nothing; a backslash before a line break joins lines;
* variables ``NAME := value`` (lists ``{a, b}`` allowed), ``describe NAME "label"`` / ``hidden`` /
  ``const`` / ``immutable``, ``export NAME "field"``; XNAT's ``project``, ``subject``, ``session`` and
  ``modalityLabel`` come from ``apply_script(..., variables=...)``; any other unset variable is an error;
* function calls ``name[arg, ...]`` as values or statements, ``echo value``, ``removeAllPrivateTags``;
* conditions ``a = b``, ``!=``, ``~`` (regex), ``!~`` or a boolean function, used as
  ``cond ? action`` / ``cond ? action : action`` and ``if (cond) {...} elseif (cond) {...} else {...}``;
* tags as upstream's lexer reads them: a group ending in an even digit (or ``@``) takes four element
  digits, one ending in an odd digit (or ``#``) a creator, ``(0019,{SIEMENS MR HEADER}0F)``; blanks may
  stand around the comma; ``X``/``x`` is any digit, ``#`` odd, ``@`` even. String arguments may also name
  a private element by number (``delete["(0009,1010)"]``);
* tag paths: ``(0008,1115)[0]/(0008,1155)``, ``[%]`` or no index for every item; ``+/`` (inside any
  sequence), ``*/`` (any depth, top level included), ``./`` (exactly one sequence level). A path ending
  in an item, ``(0008,1115)[0]``, names that item: deleting it empties it and keeps the others;
* assignment and ``set`` write through one path only (no wildcards, an index on every sequence) and
  create missing sequences, items and private creators; reading a plural path as a value is an error.

Functions (dicom-edit6 semantics): hashUID, hashUIDList, newUID, mapUID, mapReferencedUIDs, format,
lowercase, uppercase (a missing value is an error), substring, concatenate, replace, match, ismatch,
normalizeString, isPresent (every argument present), set, removeTags/delete, blankValues, collectValues,
retainPrivateTags (creator form only), shiftDateByIncrement, shiftDateTimeByIncrement,
shiftDateTimeSequenceByIncrement, shiftDateTimeListByIncrement (reduced-precision values shifted from the
middle of their period; units seconds, minutes, hours, days, years of 365 days),
scalePatientAgeAndDobFromStudyDate, reject (DicomEditRejectionError: XNAT does not archive the file),
getURL (an error naming the URL: this engine works offline), alterPixels (solid rectangles), true,
false. ``lookup`` (a table XNAT configures) and unknown names raise DicomEditRuntimeError with the line
and column. Every DicomEditRuntimeError says that XNAT would not archive the file, as upstream fails
there too.

    from compliance.dicomedit import load_script, apply_script
    script = load_script(Path("site.das"))  # or load_script_text(text, source=...); ScriptError if unusable
    apply_script(script, dataset, {"project": "P1", "subject": "S1", "session": "E1"})

Commands read scripts only through ``load_script``/``load_script_text`` (compliance.dicomedit.loader),
which turn unreadable files, non-UTF-8 text, DicomEdit 4 and syntax errors into one ScriptError.
"""

from compliance.dicomedit import ast
from compliance.dicomedit.errors import (
    DicomEditError,
    DicomEditRejectionError,
    DicomEditRuntimeError,
    DicomEditSyntaxError,
    DicomEditVersionError,
    ScriptError,
)
from compliance.dicomedit.functions import FUNCTIONS, KNOWN_FUNCTIONS, hash_uid
from compliance.dicomedit.interpreter import Interpreter, apply_script, collected_messages
from compliance.dicomedit.loader import (
    load_script,
    load_script_text,
    refuse_unknown_functions,
    unknown_function_calls,
)
from compliance.dicomedit.parser import SUPPORTED_VERSIONS, parse, parse_tag_path

__all__ = [
    "FUNCTIONS",
    "KNOWN_FUNCTIONS",
    "SUPPORTED_VERSIONS",
    "DicomEditError",
    "DicomEditRejectionError",
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
    "refuse_unknown_functions",
    "unknown_function_calls",
]
