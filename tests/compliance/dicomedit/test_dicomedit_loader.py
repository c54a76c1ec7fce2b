"""load_script / load_script_text: the one way commands read a script, and the one error they catch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import compliance.dicomedit
from compliance.dicomedit import DicomEditSyntaxError, ScriptError, load_script, load_script_text

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "anon"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
PACKAGE = Path(compliance.dicomedit.__file__).parent


def test_a_script_parses_with_the_name_of_its_file():
    script = load_script(EXAMPLES / "basic-profile.das")
    assert script.source == str(EXAMPLES / "basic-profile.das")
    assert script.version == "6.3"


def test_syntax_error_names_file_line_and_column():
    path = EXAMPLES / "syntax-error.das"
    with pytest.raises(ScriptError) as caught:
        load_script(path)
    assert (caught.value.source, caught.value.line, caught.value.column) == (str(path), 5, 37)
    assert str(caught.value).startswith(f"{path}:5:37: the script does not parse: unexpected end of line")
    assert isinstance(caught.value.__cause__, DicomEditSyntaxError)


def test_a_dicomedit_4_script_is_named_as_such_not_as_a_syntax_error():
    with pytest.raises(ScriptError) as caught:
        load_script(SCRIPTS / "dicomedit4_legacy.das")
    message = str(caught.value)
    assert "the script is not DicomEdit 6" in message and "DicomEdit 4" in message
    assert "does not parse" not in message
    assert "rewrite" in message


def test_text_from_elsewhere_is_named_by_its_source():
    with pytest.raises(ScriptError, match=r"^https://xnat site script:2:16: the script does not parse: "):
        load_script_text('version "6.3"\n(0010,0010) := )\n', "https://xnat site script")


def test_a_directory_is_an_unreadable_script(tmp_path):
    with pytest.raises(ScriptError) as caught:
        load_script(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: cannot read the script (Is a directory); check the path and the file's permissions"
    )
    assert caught.value.line is None


def test_the_column_of_a_bad_byte_counts_characters_not_bytes(tmp_path):
    script = tmp_path / "latin1.das"
    script.write_bytes('version "6.3"\n-(0010,0010) // Zoë'.encode() + b" \xff\n")
    with pytest.raises(ScriptError) as caught:
        load_script(script)
    assert (caught.value.line, caught.value.column) == (2, 21)
    assert "byte 0xFF" in str(caught.value)


@pytest.mark.parametrize(
    ("module", "below"),
    [("functions.py", {"interpreter"}), ("runtime.py", {"interpreter", "functions"})],
)
def test_no_import_runs_back_up_from_the_functions_to_the_interpreter(module, below):
    """interpreter -> functions -> runtime, never back (functions.py and interpreter.py were a loop)."""
    tree = ast.parse((PACKAGE / module).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {f"compliance.dicomedit.{name}" for name in below}
