"""Grammar tests: every DicomEdit 6 construct, positions in the AST, and every error class."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.dicomedit import (
    KNOWN_FUNCTIONS,
    DicomEditSyntaxError,
    DicomEditVersionError,
    ast,
    parse,
    parse_tag_path,
)

SCRIPTS = Path(__file__).parent / "scripts"


def statement(line: str) -> ast.Statement:
    """Parse one statement after a version line and return it."""
    script = parse(f'version "6.3"\n{line}\n')
    assert len(script.statements) == 2
    return script.statements[1]


def test_every_construct_script_parses_into_expected_statement_kinds() -> None:
    script = parse((SCRIPTS / "every_construct.das").read_text(), source="every_construct.das")
    kinds = [type(node).__name__ for node in script.statements]
    assert kinds[:9] == [
        "Version",
        "Describe",
        "Describe",
        "Describe",
        "Describe",
        "Export",
        "Initialize",
        "Initialize",
        "Assign",
    ]
    assert kinds.count("Delete") == 9
    assert kinds.count("Conditional") == 5
    assert "IfBlock" in kinds and "RemoveAllPrivateTags" in kinds
    assert script.source == "every_construct.das"
    assert script.version == "6.3"


def test_assign_tag_from_variable() -> None:
    node = statement("(0010,0010) := subject")
    assert isinstance(node, ast.Assign)
    assert node.target.text == "(0010,0010)"
    assert node.target.target is not None and node.target.target.tag == 0x00100010
    assert node.value == ast.Variable(2, 16, "subject")


def test_assign_if_exists() -> None:
    node = statement('(0008,1030) ?= "x"')
    assert isinstance(node, ast.AssignIfExists)
    assert node.value == ast.StringLiteral(2, 16, "x", '"x"')


@pytest.mark.parametrize("text", ["-(0010,0010)", "- (0010,0010)", "-\t(0010,0010)"])
def test_delete_with_or_without_space(text: str) -> None:
    node = statement(text)
    assert isinstance(node, ast.Delete)
    assert node.target.text == "(0010,0010)"
    assert (node.line, node.column) == (2, 1)


def test_variable_with_list_over_several_lines() -> None:
    node = statement('tags := {\n  (0008,0018),\n  "(0020,000D)", 3\n}')
    assert isinstance(node, ast.Initialize)
    assert node.name == "tags"
    assert isinstance(node.value, ast.ListValue)
    items = node.value.items
    assert [type(item).__name__ for item in items] == ["TagPath", "StringLiteral", "IntegerLiteral"]
    assert (items[1].line, items[1].column) == (4, 3)


def test_empty_list() -> None:
    node = statement("nothing := {}")
    assert isinstance(node, ast.Initialize) and node.value == ast.ListValue(2, 12, ())


def test_function_call_as_value_and_as_statement() -> None:
    assign = statement('(0020,000D) := hashUID[(0020,000D), "SHA-1"]')
    assert isinstance(assign, ast.Assign) and isinstance(assign.value, ast.FunctionCall)
    assert assign.value.name == "hashUID"
    assert [type(argument).__name__ for argument in assign.value.arguments] == ["TagPath", "StringLiteral"]
    call = statement("removeTags[(0010,1000), (0010,1001)]")
    assert isinstance(call, ast.FunctionStatement) and call.call.name == "removeTags"
    assert len(call.call.arguments) == 2
    empty = statement("newUID[]")
    assert isinstance(empty, ast.FunctionStatement) and empty.call.arguments == ()


def test_nested_calls() -> None:
    node = statement('(0010,0020) := uppercase[concatenate[project, "_", substring[subject, 0, 3]]]')
    assert isinstance(node, ast.Assign) and isinstance(node.value, ast.FunctionCall)
    inner = node.value.arguments[0]
    assert isinstance(inner, ast.FunctionCall) and inner.name == "concatenate"
    assert isinstance(inner.arguments[2], ast.FunctionCall)
    line = '(0010,0020) := uppercase[concatenate[project, "_", substring[subject, 0, 3]]]'
    assert inner.arguments[2].arguments[1] == ast.IntegerLiteral(2, line.index(" 0,") + 2, 0)


def test_echo_with_and_without_value() -> None:
    assert statement('echo "hi"') == ast.Echo(2, 1, ast.StringLiteral(2, 6, "hi", '"hi"'))
    assert statement("echo") == ast.Echo(2, 1, None)


def test_ternary_with_and_without_else() -> None:
    node = statement('(0008,0060) = "MR" ? (0008,103E) := "a" : -(0008,103E)')
    assert isinstance(node, ast.Conditional)
    assert isinstance(node.condition, ast.Comparison) and node.condition.operator == "="
    assert isinstance(node.action, ast.Assign) and isinstance(node.otherwise, ast.Delete)
    short = statement('project != "Unassigned" ? (0008,1030) := project')
    assert isinstance(short, ast.Conditional) and short.otherwise is None
    assert isinstance(short.condition, ast.Comparison) and short.condition.operator == "!="


@pytest.mark.parametrize("operator", ["=", "!=", "~", "!~"])
def test_condition_operators(operator: str) -> None:
    node = statement(f'(0008,0060) {operator} "M.*" ? echo "x"')
    assert isinstance(node, ast.Conditional) and isinstance(node.condition, ast.Comparison)
    assert node.condition.operator == operator


def test_boolean_function_condition() -> None:
    node = statement("isPresent[(0010,0030)] ? -(0010,0030)")
    assert isinstance(node, ast.Conditional)
    assert isinstance(node.condition, ast.FunctionCall) and node.condition.name == "isPresent"


def test_if_elseif_else_blocks_with_braces_on_their_own_lines() -> None:
    text = (
        'version "6.4"\n'
        'if ((0008,0060) = "CT")\n{\n  -(0010,0010)\n  echo "ct"\n}\n'
        'elseif ((0008,0060) = "MR") {\n}\n'
        "elseif (isPresent[(0010,0030)]) { -(0010,0030) }\n"
        "else {\n  removeAllPrivateTags\n}\n"
        "-(0010,0020)\n"
    )
    script = parse(text)
    block = script.statements[1]
    assert isinstance(block, ast.IfBlock)
    assert [branch.line for branch in block.branches] == [2, 7, 9]
    assert [len(branch.body) for branch in block.branches] == [2, 0, 1]
    assert block.otherwise is not None and isinstance(block.otherwise[0], ast.RemoveAllPrivateTags)
    assert isinstance(script.statements[2], ast.Delete) and script.statements[2].line == 13


def test_if_without_else() -> None:
    node = statement('if ((0008,0060) = "CT") {\n -(0010,0010)\n}')
    assert isinstance(node, ast.IfBlock) and node.otherwise is None and len(node.branches) == 1


def test_describe_and_export() -> None:
    assert statement('describe label "Site label"') == ast.Describe(2, 1, "label", label="Site label")
    for modifier in ("hidden", "const", "immutable"):
        assert statement(f"describe label {modifier}") == ast.Describe(2, 1, "label", modifier=modifier)
    assert statement('export label "xnat:subjectData/label"') == ast.Export(
        2, 1, "label", "xnat:subjectData/label"
    )


def test_remove_all_private_tags_keyword() -> None:
    assert statement("removeAllPrivateTags") == ast.RemoveAllPrivateTags(2, 1)


def test_private_tag_with_creator() -> None:
    node = statement("-(0019,{SIEMENS MR HEADER}0F)")
    assert isinstance(node, ast.Delete)
    element = node.target.target
    assert element is not None
    assert (element.group, element.creator, element.element) == ("0019", "SIEMENS MR HEADER", "0F")
    assert element.is_private and element.tag is None


@pytest.mark.parametrize(
    ("text", "matches", "misses"),
    [
        ("(50X@,XXXX)", ["50000010", "501E3000"], ["50013000", "60003000"]),
        ("(60#@,3000)", ["60103000", "60F23000"], ["60003000", "60213000"]),
        ("(0010,xxxx)", ["00100010", "0010ABCD"], ["00120010"]),
    ],
)
def test_wildcard_hex_digits(text: str, matches: list[str], misses: list[str]) -> None:
    node = statement(f"-{text}")
    assert isinstance(node, ast.Delete)
    element = node.target.target
    assert element is not None and element.has_wildcard and element.tag is None
    pattern = element.pattern()
    assert all(pattern.fullmatch(tag) for tag in matches)
    assert not any(pattern.fullmatch(tag) for tag in misses)


def test_sequence_path_with_item_index_and_any_item() -> None:
    node = statement("-(0008,1115)[0]/(0008,1140)[%]/(0008,1155)")
    assert isinstance(node, ast.Delete)
    segments = node.target.segments
    assert [segment.item for segment in segments if isinstance(segment, ast.TagElement)] == [0, "%", None]
    assert node.target.text == "(0008,1115)[0]/(0008,1140)[%]/(0008,1155)"
    assert [segment.column for segment in segments] == [2, 17, 32]
    assert not node.target.is_top_level


@pytest.mark.parametrize("prefix", ["+", "*", "."])
def test_sequence_wildcard_prefixes(prefix: str) -> None:
    node = statement(f"-{prefix}/(0010,0010)")
    assert isinstance(node, ast.Delete)
    first = node.target.segments[0]
    assert isinstance(first, ast.SequenceWildcard) and first.kind == prefix


def test_strings_keep_backslash_sequences_as_dicomedit_does() -> None:
    # dicom-edit6's extractStringValue turns \\ into one backslash and leaves every other sequence as
    # written, so regular expressions such as "\\d{8}" or "\d" read naturally.
    node = statement(r'echo "a\tb \"q\" c\\d \101 \d+"')
    assert isinstance(node, ast.Echo) and isinstance(node.value, ast.StringLiteral)
    assert node.value.value == 'a\\tb "q" c\\d \\101 \\d+'


def test_integers_and_floats() -> None:
    call = statement("f[0, 42, -30, 1.5, -0.25]")
    assert isinstance(call, ast.FunctionStatement)
    values = [argument.value for argument in call.call.arguments]  # type: ignore[union-attr]
    assert values == [0, 42, -30, 1.5, -0.25]
    assert [type(argument).__name__ for argument in call.call.arguments] == ["IntegerLiteral"] * 3 + [
        "FloatLiteral"
    ] * 2


def test_comments_blank_lines_and_crlf_are_ignored() -> None:
    text = '// header\r\n\r\nversion "6.3"   // why\r\n   // indented comment\r\n\r\n-(0010,0010)\r\n// end'
    script = parse(text)
    assert [type(node).__name__ for node in script.statements] == ["Version", "Delete"]
    assert script.statements[1].line == 6


def test_empty_and_comment_only_scripts() -> None:
    assert parse("").statements == ()
    assert parse("// nothing here\n\n").statements == ()


def test_second_version_line_is_kept_in_the_ast() -> None:
    script = parse('version "6.1"\n-(0010,0010)\nversion "6.3"\n')
    assert [version.value for version in script.versions] == ["6.1", "6.3"]
    assert [version.line for version in script.versions] == [1, 3]
    assert script.version == "6.1"


def test_version_inside_an_if_block_is_found() -> None:
    script = parse('version "6.3"\nif (isPresent[(0010,0010)]) {\n version "6.4"\n}\n')
    assert [version.line for version in script.versions] == [1, 3]


def test_script_without_version_line_parses_with_version_none() -> None:
    assert parse("-(0010,0010)\n").version is None


def test_positions_of_values_and_nested_nodes() -> None:
    script = parse('version "6.3"\n\n   (0008,1030) := format["{0}", session]\n')
    node = script.statements[1]
    assert isinstance(node, ast.Assign)
    assert (node.line, node.column) == (3, 4)
    assert isinstance(node.value, ast.FunctionCall)
    assert (node.value.line, node.value.column) == (3, 19)
    assert [(argument.line, argument.column) for argument in node.value.arguments] == [(3, 26), (3, 33)]


def test_walk_visits_every_node_in_source_order() -> None:
    script = parse('version "6.3"\n(0010,0020) := hashUID[(0010,0020)]\n')
    names = [type(node).__name__ for node in ast.walk(script)]
    assert names == [
        "Script",
        "Version",
        "Assign",
        "TagPath",
        "TagElement",
        "FunctionCall",
        "TagPath",
        "TagElement",
    ]


def test_ast_nodes_are_frozen() -> None:
    node = statement("-(0010,0010)")
    with pytest.raises(AttributeError):
        node.line = 3  # type: ignore[misc]


# --- errors --------------------------------------------------------------------------------------------


def syntax_error(text: str) -> DicomEditSyntaxError:
    with pytest.raises(DicomEditSyntaxError) as caught:
        parse(text, source="site.das")
    return caught.value


def test_bad_token_names_place_offending_text_and_expected_words() -> None:
    error = syntax_error('version "6.3"\n(0010,0010) := )\n')
    assert (error.source, error.line, error.column, error.text) == ("site.das", 2, 16, ")")
    assert "tag" in error.expected and "string" in error.expected and "name" in error.expected
    assert str(error).startswith("site.das:2:16: unexpected ')'; expected one of: tag, string, name")
    assert not isinstance(error, DicomEditVersionError)


def test_unbalanced_bracket_says_which_one_is_open() -> None:
    error = syntax_error('version "6.3"\n(0020,000D) := hashUID[(0020,000D)\n-(0010,0010)\n')
    assert (error.line, error.column, error.text) == (2, 35, "end of line")
    assert error.expected == ["','", "']'"]
    assert "'[' opened at 2:23 is not closed" in str(error)


def test_unclosed_block_reports_end_of_script() -> None:
    error = syntax_error('version "6.3"\nif ((0008,0060) = "CT") {\n -(0010,0010)\n')
    assert error.text == "end of script"
    assert "'}'" in error.expected


def test_unbalanced_closing_parenthesis() -> None:
    error = syntax_error('version "6.3"\nif ((0008,0060) = "CT")) {\n}\n')
    assert (error.line, error.text) == (2, ")")


@pytest.mark.parametrize("value", ["7.0", "6.x", "6.8", "banana", ""])
def test_unknown_version_is_an_error(value: str) -> None:
    error = syntax_error(f'version "{value}"\n-(0010,0010)\n')
    assert not isinstance(error, DicomEditVersionError)
    assert (error.line, error.column, error.text) == (1, 1, value)
    assert "6.3" in error.expected
    assert "unknown DicomEdit version" in str(error)


def test_unknown_second_version_is_an_error_at_its_line() -> None:
    error = syntax_error('version "6.3"\n-(0010,0010)\nversion "9.9"\n')
    assert (error.line, error.text) == (3, "9.9")


def test_dicomedit4_script_is_recognised() -> None:
    with pytest.raises(DicomEditVersionError) as caught:
        parse((SCRIPTS / "dicomedit4_legacy.das").read_text(), source="legacy.das")
    error = caught.value
    assert "DicomEdit 4" in str(error) and "not supported" in str(error)
    assert (error.source, error.line) == ("legacy.das", 2)


def test_dicomedit4_new_uid_is_recognised() -> None:
    with pytest.raises(DicomEditVersionError, match="DicomEdit 4"):
        parse("(0020,000D) := new UID\n")


def test_dicomedit4_version_value_is_a_version_error() -> None:
    with pytest.raises(DicomEditVersionError, match="DicomEdit 4"):
        parse('version "4.2"\n')


def test_dicomedit6_colon_error_with_version_line_is_a_plain_syntax_error() -> None:
    error = syntax_error('version "6.3"\n(0008,0060) = "MR" : -(0010,0010)\n')
    assert not isinstance(error, DicomEditVersionError)
    assert (error.line, error.text) == (2, ":")
    assert "'?'" in error.expected


def test_unterminated_string() -> None:
    error = syntax_error('version "6.3"\n(0008,1030) := "Study\n-(0010,0010)\n')
    assert (error.line, error.column) == (2, 16)
    assert error.text == '"Study'
    assert "unterminated string" in str(error)


@pytest.mark.parametrize("tag", ["(0010,001)", "(0010,001G)", "(00100010)"])
def test_malformed_tag(tag: str) -> None:
    error = syntax_error(f'version "6.3"\n{tag} := "x"\n')
    assert (error.line, error.column, error.text) == (2, 1, tag)
    assert f"malformed tag {tag!r}" in str(error)


def test_private_creator_on_even_group() -> None:
    error = syntax_error('version "6.3"\n-(0010,{ACME}10)\n')
    assert (error.line, error.column, error.text) == (2, 2, "(0010,{ACME}10)")
    assert "even (public) group" in str(error)


def test_hash_comment_is_explained() -> None:
    error = syntax_error('version "6.3"\n# old style comment\n')
    assert (error.line, error.column) == (2, 1)
    assert "comments in DicomEdit 6 start with //" in str(error)
    assert "tag" in error.expected and "'removeAllPrivateTags'" in error.expected


def test_two_statements_on_one_line_need_no_separator() -> None:
    script = parse('version "6.3"\n-(0010,0010) -(0010,0020)\n')
    assert [(node.line, node.column) for node in script.statements] == [(1, 1), (2, 1), (2, 14)]


def test_parse_tag_path_on_its_own_keeps_columns_relative_to_the_text() -> None:
    path = parse_tag_path(" */(0008,1155)")
    assert path.text == "*/(0008,1155)"
    assert [(segment.line, segment.column) for segment in path.segments] == [(1, 2), (1, 4)]


@pytest.mark.parametrize("text", ["(0008,115)", "(0008,1155) := 1", "", "hello"])
def test_parse_tag_path_rejects_what_is_not_a_tag_path(text: str) -> None:
    with pytest.raises(DicomEditSyntaxError, match="is not a tag path"):
        parse_tag_path(text, source="arg")


def test_private_creator_pattern_constrains_group_and_low_byte_only() -> None:
    path = parse_tag_path("(0019,{SIEMENS MR HEADER}0F)")
    assert path.target is not None
    pattern = path.target.pattern()
    assert pattern.fullmatch("0019100F") and pattern.fullmatch("0019110F")
    assert not pattern.fullmatch("0019100E") and not pattern.fullmatch("0021100F")


def test_known_functions_cover_the_documented_dicomedit6_functions() -> None:
    documented = {
        "hashUID", "hashUIDList", "newUID", "mapUID", "mapReferencedUIDs", "format", "lowercase",
        "uppercase", "substring", "concatenate", "replace", "set", "retainPrivateTags", "removeTags",
        "blankValues", "collectValues", "normalizeString", "isPresent", "reject", "match", "ismatch",
        "alterPixels", "shiftDateByIncrement", "shiftDateTimeByIncrement", "shiftDateTimeSequenceByIncrement",
        "shiftDateTimeListByIncrement", "scalePatientAgeAndDobFromStudyDate", "getURL", "lookup", "delete",
    }  # fmt: skip
    assert documented <= KNOWN_FUNCTIONS


def test_names_that_start_with_keywords_are_names() -> None:
    script = parse('version "6.3"\nechoes := "x"\nifx := 1\nversion_label := "v"\nelsewhere := 2\n')
    assert [getattr(node, "name", None) for node in script.statements[1:]] == [
        "echoes",
        "ifx",
        "version_label",
        "elsewhere",
    ]
