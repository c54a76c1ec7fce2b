"""DicomEdit 6 parser: Lark LALR grammar (grammar.lark) -> AST (ast.py) with precise errors."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from compliance.dicomedit import ast
from compliance.dicomedit.errors import DicomEditSyntaxError, DicomEditVersionError

# The versions NRG's VersionManager accepts: 6.0-6.7, then every minor from 6.10 up to the library's own
# (dicom-edit6 VersionManager and VersionManagerTest); 6.8 and 6.9 were never accepted. Which 6.1x an XNAT
# runs is not known here, so any 6.1x or later minor is accepted.
SUPPORTED_VERSIONS = ("6.0", "6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "6.7")
FIRST_DERIVED_MINOR = 10
_DERIVED_VERSION = re.compile(r"6\.(?P<minor>[1-9][0-9]+)")


def is_supported_version(value: str) -> bool:
    """True for a ``version`` string some DicomEdit 6 release accepts."""
    derived = _DERIVED_VERSION.fullmatch(value)
    return value in SUPPORTED_VERSIONS or (
        derived is not None and int(derived.group("minor")) >= FIRST_DERIVED_MINOR
    )


# Lark terminal names -> words a script author recognises.
TERMINAL_WORDS = {
    "TAG": "tag",
    "STRING": "string",
    "INTEGER": "integer",
    "FLOAT": "number",
    "NAME": "name",
    "_NL": "end of line",
    "$END": "end of script",
    "ASSIGN": "':='",
    "ASSIGN_IF_EXISTS": "'?='",
    "MINUS": "'-'",
    "QMARK": "'?'",
    "COLON": "':'",
    "EQUALS": "'='",
    "NOT_EQUALS": "'!='",
    "MATCHES": "'~'",
    "NOT_MATCHES": "'!~'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "SLASH": "'/'",
    "PLUS": "'+'",
    "STAR": "'*'",
    "DOT": "'.'",
    "PERCENT": "'%'",
    "IF": "'if'",
    "ELSEIF": "'elseif'",
    "ELSE": "'else'",
    "ECHO": "'echo'",
    "VERSION": "'version'",
    "DESCRIBE": "'describe'",
    "EXPORT": "'export'",
    "HIDDEN": "'hidden'",
    "CONST": "'const'",
    "IMMUTABLE": "'immutable'",
    "REMOVE_ALL_PRIVATE_TAGS": "'removeAllPrivateTags'",
}
# Order in which expected words are listed: the things people usually meant first.
_WORD_ORDER = [
    "tag", "string", "name", "integer", "number", "':='", "'?='", "'='", "'!='", "'~'", "'!~'", "'?'",
    "':'", "','", "']'", "')'", "'}'", "end of line", "end of script",
]  # fmt: skip

_ESCAPE = re.compile(r'\\([\\"])')


def parse(text: str, source: str = "<script>") -> ast.Script:
    """Parse DicomEdit 6 script text into an :class:`ast.Script`.

    Raises :class:`DicomEditSyntaxError` (line, column, offending text, expected words) for invalid
    text and :class:`DicomEditVersionError` for DicomEdit 4 scripts or unsupported version lines.
    Lines and columns are those of ``text`` even where backslash-newline continuations were joined.
    """
    joined = join_continuations(text)
    try:
        script = _parse_joined(joined.text, source, _lark())
    except DicomEditSyntaxError as error:
        raise joined.relocate_error(error) from None
    script = joined.relocate(script)
    _check_versions(script, source)
    return script


def _parse_joined(text: str, source: str, parser: Lark) -> ast.Script:
    try:
        script = parser.parse(text)
    except _TreeError as error:
        raise DicomEditSyntaxError(
            error.message,
            source=source,
            line=error.line,
            column=error.column,
            text=error.text,
            expected=error.expected,
        ) from None
    except UnexpectedInput as error:
        raise _syntax_error(error, text, source) from None
    assert isinstance(script, ast.Script)
    return dataclasses.replace(script, source=source)


def parse_tag_path(text: str, source: str = "<tag path>") -> ast.TagPath:
    """Parse a tag path on its own, e.g. a string argument such as ``"*/(0008,1155)"``.

    String arguments are read as upstream's functions read them, more leniently than script text: a
    private tag may be named directly by its number, e.g. ``delete["(0009,1010)"]``. Raises
    DicomEditSyntaxError (column relative to ``text``) when it is not one tag path.
    """
    stripped = text.strip()
    offset = len(text) - len(text.lstrip())
    try:
        statements = _parse_joined(f"-{stripped}\n", source, _lark(lenient_tags=True)).statements
    except DicomEditSyntaxError as error:
        raise DicomEditSyntaxError(
            f"{text!r} is not a tag path such as (0010,0010) or */(0008,1155)",
            source=source,
            line=1,
            column=max(error.column - 1, 1) + offset,
            text=error.text,
            expected=["tag path"],
        ) from None
    if len(statements) != 1 or not isinstance(statements[0], ast.Delete):
        raise DicomEditSyntaxError(
            f"{text!r} is not a tag path",
            source=source,
            line=1,
            column=1 + offset,
            text=text,
            expected=["tag path"],
        )
    target = statements[0].target
    return _shift_columns(target, offset - 1)


# --- backslash-newline continuations ------------------------------------------------------------------

_CONTINUATION = re.compile(r"\\\r?\n")


@dataclasses.dataclass(frozen=True)
class JoinedText:
    """Script text with every backslash-newline removed, and the way back to the original positions."""

    text: str
    original_text: str
    removals: tuple[tuple[int, int], ...] = ()  # (offset in ``text``, characters removed there)

    def original_position(self, line: int, column: int) -> tuple[int, int]:
        """The 1-based line and column in the original text of ``line``:``column`` in ``text``."""
        if not self.removals or line < 1:
            return line, column
        offset = _offset_of(self.text, line, column)
        offset += sum(length for at, length in self.removals if at <= offset)
        return _position_of(self.original_text, offset)

    def relocate(self, script: ast.Script) -> ast.Script:
        if not self.removals:
            return script
        relocated = _relocate_node(script, self)
        assert isinstance(relocated, ast.Script)
        return relocated

    def relocate_error(self, error: DicomEditSyntaxError) -> DicomEditSyntaxError:
        if not self.removals or not error.line:
            return error
        line, column = self.original_position(error.line, error.column)
        return type(error)(
            error.reason,
            source=error.source,
            line=line,
            column=column,
            text=error.text,
            expected=error.expected,
        )


def join_continuations(text: str) -> JoinedText:
    """Remove backslash-newline pairs (anywhere: in strings, tags and comments too), as DicomEdit does."""
    if "\\\n" not in text and "\\\r\n" not in text:
        return JoinedText(text, text)
    pieces: list[str] = []
    removals: list[tuple[int, int]] = []
    position = joined_length = 0
    for match in _CONTINUATION.finditer(text):
        pieces.append(text[position : match.start()])
        joined_length += match.start() - position
        removals.append((joined_length, match.end() - match.start()))
        position = match.end()
    pieces.append(text[position:])
    return JoinedText("".join(pieces), text, tuple(removals))


def _offset_of(text: str, line: int, column: int) -> int:
    start = 0
    for _ in range(line - 1):
        start = text.index("\n", start) + 1
    return start + column - 1


def _position_of(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _relocate_node(node: ast.Node, joined: JoinedText) -> ast.Node:
    changes: dict[str, object] = {}
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, ast.Node):
            changes[field.name] = _relocate_node(value, joined)
        elif isinstance(value, tuple) and any(isinstance(item, ast.Node) for item in value):
            changes[field.name] = tuple(
                _relocate_node(item, joined) if isinstance(item, ast.Node) else item for item in value
            )
    line, column = joined.original_position(node.line, node.column)
    return dataclasses.replace(node, line=line, column=column, **changes)


def _shift_columns(node: ast.TagPath, delta: int) -> ast.TagPath:
    segments = tuple(dataclasses.replace(segment, column=segment.column + delta) for segment in node.segments)
    return dataclasses.replace(node, column=node.column + delta, segments=segments)


# How parse_tag_path reads a tag in a string argument: any group with four digits or a creator.
_LENIENT_TAG = r"/\([0-9A-Fa-fXx#@]{4}[ \t]*,[ \t]*(?:[0-9A-Fa-fXx#@]{4}|\{[^{}\n]*\}[0-9A-Fa-fXx#@]{2})\)/"


@cache
def _lark(lenient_tags: bool = False) -> Lark:
    grammar = resources.files("compliance.dicomedit").joinpath("grammar.lark").read_text(encoding="utf-8")
    if lenient_tags:
        grammar = re.sub(r"^TAG\.4: .*$", lambda _: "TAG.4: " + _LENIENT_TAG, grammar, flags=re.MULTILINE)
    # The transformer runs inside the LALR parser: no parse tree is built, which halves parse time.
    return Lark(
        grammar,
        parser="lalr",
        lexer="basic",
        postlex=_BlockNewlines(),
        maybe_placeholders=False,
        transformer=_ToAst(),
    )


class _TreeError(Exception):
    """A semantic error found while building the AST; parse() adds the source name."""

    def __init__(self, message: str, token: Token, expected: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.line, self.column = _position(token)
        self.text = str(token)
        self.expected = expected


class _BlockNewlines:
    """Post-lexer: drop a line break that is followed by ``{``, ``else`` or ``elseif``.

    This lets a script put braces on their own line (``if (c)`` / ``{``, ``}`` / ``else``) while the
    grammar stays LALR(1): otherwise the parser could not tell such a break from a statement end.
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        pending: Token | None = None
        for token in stream:
            if pending is not None and token.type not in ("LBRACE", "ELSE", "ELSEIF"):
                yield pending
            pending = None
            if token.type == "_NL":
                pending = token
            else:
                yield token
        if pending is not None:
            yield pending


def _position(token: Token) -> tuple[int, int]:
    return int(token.line or 0), int(token.column or 0)


def unescape(literal: str) -> str:
    """The value of a string literal as DicomEdit reads it (quotes included in ``literal``).

    Only ``\\\\`` (one backslash) and ``\\"`` (a quote) are translated; every other backslash sequence
    (``\\d``, ``\\n``, ``\\t``) is kept as written, as dicom-edit6's extractStringValue does, so regular
    expressions read naturally.
    """
    return _ESCAPE.sub(lambda match: match.group(1), literal[1:-1])


class _ToAst(Transformer):
    """Builds AST nodes during the parse; each node takes the position of its first token."""

    # --- script and statements
    def start(self, children: list) -> ast.Script:
        return ast.Script(1, 1, tuple(children))

    def version(self, children: list[Token]) -> ast.Version:
        keyword, value = children
        return ast.Version(*_position(keyword), unescape(value))

    def assign(self, children: list) -> ast.Assign:
        target, _, value = children
        return ast.Assign(target.line, target.column, target, value)

    def assign_if_exists(self, children: list) -> ast.AssignIfExists:
        target, _, value = children
        return ast.AssignIfExists(target.line, target.column, target, value)

    def delete(self, children: list) -> ast.Delete:
        minus, target = children
        return ast.Delete(*_position(minus), target)

    def initialize(self, children: list) -> ast.Initialize:
        name, _, value = children
        return ast.Initialize(*_position(name), str(name), value)

    def function_statement(self, children: list) -> ast.FunctionStatement:
        (call,) = children
        return ast.FunctionStatement(call.line, call.column, call)

    def echo(self, children: list) -> ast.Echo:
        keyword, *value = children
        return ast.Echo(*_position(keyword), value[0] if value else None)

    def remove_all_private(self, children: list[Token]) -> ast.RemoveAllPrivateTags:
        return ast.RemoveAllPrivateTags(*_position(children[0]))

    def describe(self, children: list[Token]) -> ast.Describe:
        keyword, name, what = children
        if what.type == "STRING":
            return ast.Describe(*_position(keyword), str(name), label=unescape(what))
        return ast.Describe(*_position(keyword), str(name), modifier=str(what))

    def export(self, children: list[Token]) -> ast.Export:
        keyword, name, field = children
        return ast.Export(*_position(keyword), str(name), unescape(field))

    def conditional(self, children: list) -> ast.Conditional:
        condition, _, action, *rest = children
        otherwise = rest[1] if rest else None
        return ast.Conditional(condition.line, condition.column, condition, action, otherwise)

    def comparison(self, children: list) -> ast.Comparison:
        left, operator, right = children
        return ast.Comparison(left.line, left.column, left, str(operator), right)

    def if_block(self, children: list) -> ast.IfBlock:
        keyword, _, condition, _, body, *arms = children
        branches = [ast.Branch(*_position(keyword), condition, body)]
        otherwise = None
        for arm in arms:
            if isinstance(arm, ast.Branch):
                branches.append(arm)
            else:
                otherwise = arm
        return ast.IfBlock(*_position(keyword), tuple(branches), otherwise)

    def elseif_branch(self, children: list) -> ast.Branch:
        keyword, _, condition, _, body = children
        return ast.Branch(*_position(keyword), condition, body)

    def else_branch(self, children: list) -> tuple:
        return children[1]

    def block(self, children: list) -> tuple:
        return tuple(child for child in children if isinstance(child, ast.Node))

    # --- values
    def string(self, children: list[Token]) -> ast.StringLiteral:
        (token,) = children
        return ast.StringLiteral(*_position(token), unescape(token), str(token))

    def integer(self, children: list[Token]) -> ast.IntegerLiteral:
        (token,) = children
        return ast.IntegerLiteral(*_position(token), int(token))

    def float(self, children: list[Token]) -> ast.FloatLiteral:
        (token,) = children
        return ast.FloatLiteral(*_position(token), float(token), str(token))

    def variable(self, children: list[Token]) -> ast.Variable:
        (token,) = children
        return ast.Variable(*_position(token), str(token))

    def call(self, children: list) -> ast.FunctionCall:
        name, _, *rest = children
        arguments = tuple(child for child in rest if isinstance(child, ast.Node))
        return ast.FunctionCall(*_position(name), str(name), arguments)

    def list(self, children: list) -> ast.ListValue:
        brace = children[0]
        items = tuple(child for child in children if isinstance(child, ast.Node))
        return ast.ListValue(*_position(brace), items)

    # --- tag paths
    def tagpath(self, children: list) -> ast.TagPath:
        segments = tuple(child for child in children if isinstance(child, ast.Node))
        text = "/".join(_segment_text(segment) for segment in segments)
        first = segments[0]
        return ast.TagPath(first.line, first.column, segments, text)

    def seq_wildcard(self, children: list[Token]) -> ast.SequenceWildcard:
        (token,) = children
        return ast.SequenceWildcard(*_position(token), str(token))

    def tag_element(self, children: list[Token]) -> ast.TagElement:
        tag = children[0]
        item: int | str | None = None
        if len(children) > 1:
            index = children[2]
            item = ast.ANY_ITEM if index.type == "PERCENT" else int(index)
            if isinstance(item, int) and item < 0:
                message = f"sequence item index must not be negative: {index}"
                raise self._error(index, message, ["integer", "'%'"])
        group, element = (part.strip() for part in str(tag)[1:-1].split(",", 1))
        creator = None
        written = f"({group},{element})"
        if element.startswith("{"):
            creator, element = element[1:].split("}", 1)
            if not creator.strip():
                raise self._error(tag, f"empty private creator in {written}", ["private creator"])
            if group[-1] in "02468aAcCeE@":
                raise self._error(
                    tag, f"private creator given for even (public) group {group} in {written}", ["odd group"]
                )
        text = written + (f"[{children[2]}]" if item is not None else "")
        return ast.TagElement(*_position(tag), group, element, creator, item, text)

    def _error(self, token: Token, message: str, expected: list[str]) -> _TreeError:
        return _TreeError(message, token, expected)


def _segment_text(segment: ast.PathSegment) -> str:
    return segment.text if isinstance(segment, ast.TagElement) else segment.kind


def _check_versions(script: ast.Script, source: str) -> None:
    for version in script.versions:
        if is_supported_version(version.value):
            continue
        details = {"source": source, "line": version.line, "column": version.column, "text": version.value}
        if version.value.startswith("4"):
            raise DicomEditVersionError(
                f'version "{version.value}" is DicomEdit 4, which this engine does not support; '
                f'rewrite the script for DicomEdit 6 (version "6.3" or later)',
                expected=list(SUPPORTED_VERSIONS),
                **details,
            )
        raise DicomEditSyntaxError(
            f'unknown DicomEdit version "{version.value}"; expected one of: {", ".join(SUPPORTED_VERSIONS)}, '
            "or 6.10 and later (no DicomEdit 6 release accepts 6.8 or 6.9)",
            expected=[*SUPPORTED_VERSIONS, "6.10"],
            **details,
        )


# --- syntax errors -----------------------------------------------------------------------------------

_DE4_NEW_UID = re.compile(r":=\s*new\s+[A-Za-z]")
_DE4_CONDITION = re.compile(r"^[^?]*?(?:!=|!~|(?<![:!?])=|~)[^?]*?\s:(?!=)")
_TAG_TEXT = re.compile(r"\([0-9A-Fa-fXx#@]{4},(?:[0-9A-Fa-fXx#@]{4}|\{[^{}\n]*\}[0-9A-Fa-fXx#@]{2})\)")
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*')


def looks_like_dicomedit4(text: str) -> bool:
    """True when text without a version line uses DicomEdit 4 syntax (``cond : action``, ``new UID``)."""
    if re.search(r'^\s*version\s+"', text, re.MULTILINE):
        return False
    stripped = _STRING_OR_COMMENT.sub('""', text)
    if _DE4_NEW_UID.search(stripped):
        return True
    return any(_DE4_CONDITION.search(line) for line in stripped.splitlines())


def _syntax_error(error: UnexpectedInput, text: str, source: str) -> DicomEditSyntaxError:
    line, column = int(getattr(error, "line", 0) or 0), int(getattr(error, "column", 0) or 0)
    if looks_like_dicomedit4(text):
        line, column = min((line, column), _dicomedit4_position(text) or (line, column))
        return DicomEditVersionError(
            "this looks like a DicomEdit 4 script (no version line; 'condition : action' or 'new UID'), "
            'which is not supported; rewrite it for DicomEdit 6 and start it with version "6.3"',
            source=source,
            line=line,
            column=column,
            text=_offending_text(error, text),
            expected=['version "6.x"'],
        )
    offending = _offending_text(error, text)
    expected = _expected_words(error, text)
    malformed_tag = _malformed_tag(error, text)
    if malformed_tag:
        offending = malformed_tag
        reason = f"malformed tag {offending!r}; " + _tag_rule(malformed_tag)
    elif isinstance(error, UnexpectedCharacters) and offending.startswith('"'):
        reason = "unterminated string (no closing '\"' on this line)"
    elif isinstance(error, UnexpectedCharacters) and offending.startswith("#"):
        reason = "unexpected '#': comments in DicomEdit 6 start with //"
    else:
        shown = offending if offending in ("end of line", "end of script") else repr(offending)
        reason = f"unexpected {shown}"
    unclosed = _unclosed_bracket(text, line, column)
    if unclosed and isinstance(error, UnexpectedToken | UnexpectedEOF):
        reason += f" ({unclosed})"
    if expected:
        reason += f"; expected one of: {', '.join(expected)}"
    return DicomEditSyntaxError(
        reason, source=source, line=line, column=column, text=offending, expected=expected
    )


def _dicomedit4_position(text: str) -> tuple[int, int] | None:
    """Where a DicomEdit 4 ``new UID`` is (the word after ``new``), for the error to point at it."""
    blanked = _STRING_OR_COMMENT.sub(lambda match: " " * len(match.group(0)), text)
    found = re.search(r":=\s*new\s+([A-Za-z])", blanked)
    if found is None:
        return None
    offset = found.start(1)
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _offending_text(error: UnexpectedInput, text: str) -> str:
    if isinstance(error, UnexpectedEOF):
        return "end of script"
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            return "end of script"
        if token.type == "_NL":
            return "end of line"
        return str(token)
    position = getattr(error, "pos_in_stream", None) or 0
    rest = text[position:].split("\n", 1)[0]
    word = re.match(r"\S+", rest)
    return (word.group(0) if word else rest)[:40]


def _malformed_tag(error: UnexpectedInput, text: str) -> str:
    """The text of a tag-like token that is not a valid tag, e.g. ``(0010,001)``, or ''."""
    if isinstance(error, UnexpectedToken) and error.token.type == "LPAR":
        position = error.token.start_pos or 0
    elif (
        isinstance(error, UnexpectedCharacters) and text[error.pos_in_stream : error.pos_in_stream + 1] == "("
    ):
        position = error.pos_in_stream
    else:
        return ""
    candidate = re.match(r"\([0-9A-Za-z#@{} ,.\-]{0,40}\)?", text[position:])
    if not candidate or not re.match(r"\([ \t]*[0-9A-Fa-fXx#@]", candidate.group(0)):
        return ""
    return candidate.group(0)


_HEX = "[0-9A-Fa-fXx#@]"
_NUMBERED_TAG = re.compile(rf"\(\s*({_HEX}{{4}})\s*,\s*({_HEX}{{4}}|\{{[^{{}}]*\}}{_HEX}{{2}})\s*\)")


def _tag_rule(candidate: str) -> str:
    """Which of DicomEdit 6's tag rules ``candidate`` breaks, in words a script author can act on."""
    match = _NUMBERED_TAG.fullmatch(candidate)
    if match is None:
        return "a tag is (gggg,eeee) or (gggg,{creator}ee) in hex digits"
    group, element = match.groups()
    last = group[-1]
    if last in "Xx":
        return (
            f"the last digit of group {group} cannot be X: DicomEdit 6 must know whether the group is public "
            "(an even digit or @) or private (an odd digit or #)"
        )
    if candidate[1] in " \t" or candidate[-2] in " \t":
        return "DicomEdit 6 accepts blanks around the comma only, not after '(' or before ')'"
    if element.startswith("{") and last in "02468AaCcEe@":
        return f"private creator given for even (public) group {group}: a creator belongs to an odd group"
    if element.startswith("{"):
        return (
            "a private creator starts with a letter and holds only letters, digits, spaces and - _ . : "
            "(DicomEdit 6's lexer); name it exactly as the data does"
        )
    return (
        f"group {group} is private (odd): DicomEdit 6 names a private element through its creator, e.g. "
        f"({group},{{CREATOR}}{element[2:]}), and does not accept it by number in script text"
    )


def _expected_at(text: str, position: int) -> set[str] | None:
    """Terminals the parser accepts at ``position`` (used for lexer errors, which do not know)."""
    interactive = _lark().parse_interactive(text[:position])
    try:
        interactive.exhaust_lexer()
    except (UnexpectedInput, _TreeError):
        return None
    return set(interactive.accepts())


def _expected_words(error: UnexpectedInput, text: str) -> list[str]:
    if isinstance(error, UnexpectedToken):
        names = set(error.expected)
    elif isinstance(error, UnexpectedCharacters):
        names = _expected_at(text, error.pos_in_stream) or set(error.allowed or ())
    else:
        names = set(getattr(error, "expected", ()) or ())
    words = {TERMINAL_WORDS.get(name, name.lower()) for name in names}
    return sorted(words, key=lambda word: (_WORD_ORDER.index(word) if word in _WORD_ORDER else 99, word))


def _unclosed_bracket(text: str, line: int, column: int) -> str:
    """Describe a bracket opened earlier on the statement's line and never closed, if any."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return ""
    current = _STRING_OR_COMMENT.sub(lambda match: " " * len(match.group(0)), lines[line - 1])
    current = _TAG_TEXT.sub(lambda match: " " * len(match.group(0)), current)
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for index, char in enumerate(current[: max(column - 1, 0)] if column else current):
        if char in "([{":
            stack.append((char, index + 1))
        elif char in pairs and stack and stack[-1][0] == pairs[char]:
            stack.pop()
    if not stack:
        return ""
    char, opened = stack[-1]
    return f"'{char}' opened at {line}:{opened} is not closed"
