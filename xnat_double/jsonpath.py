"""What Jayway JsonPath 2.8.0 refuses to compile: the check XNAT's event service puts payload filters through.

XNAT 1.9 (NX ``web/.../eventservice/services/impl/EventSubscriptionEntityServiceImpl.java``) compiles a
subscription's payload filter as ``JsonPath.compile("$[?(" + filter + ")]")`` when a subscription is
created, updated or read, and ``POST /xapi/events/subscription/filter/validate`` does the same; the
monorepo pins ``com.jayway.jsonpath:json-path`` 2.8.0 (NX ``gradle/libs.versions.toml``). This module
follows that release's compiler, read from json-path/JsonPath at tag ``json-path-2.8.0``:
``internal/path/PathCompiler.java``, ``internal/filter/FilterCompiler.java``,
``internal/CharacterIndex.java``, ``internal/filter/RelationalOperator.java``,
``internal/path/Array{Index,Slice}Operation.java``,
``internal/filter/ValueNodes.java`` (number, pattern and path nodes are built at compile time) and
``internal/Utils.java`` (``unescape``). Nothing is evaluated: function names and JSON literals are only
checked when a filter runs, as in Jayway.

The parse follows Jayway statement by statement, so the same predicates are accepted and refused;
messages are Jayway's where it builds them (Java exception texts are approximated). Regular expressions
are compiled with Python's ``re``, which differs from ``java.util.regex`` in rare constructs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

SPACE = " "
WHITESPACE = " \t\n\r"
# RelationalOperator.fromString compares the upper-cased text with these.
RELATIONAL_OPERATORS = frozenset({
    ">=", "<=", "==", "===", "!=", "!==", "<", ">", "=~",
    "NIN", "IN", "CONTAINS", "ALL", "SIZE", "EXISTS", "TYPE", "MATCHES", "EMPTY",
    "SUBSETOF", "ANYOF", "NONEOF",
})  # fmt: skip
# PatternFlag: d (UNIX_LINES), u (UNICODE_CASE) and U (UNICODE_CHARACTER_CLASS) have no Python equivalent.
PATTERN_FLAGS = {
    "d": 0,
    "i": re.IGNORECASE,
    "x": re.VERBOSE,
    "m": re.MULTILINE,
    "s": re.DOTALL,
    "u": 0,
    "U": 0,
}
BIG_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class InvalidPathError(ValueError):
    """com.jayway.jsonpath.InvalidPathException: the expression does not compile."""


class JavaError(Exception):
    """Any other exception Jayway's compiler lets through (index out of range, number format, ...)."""


def compile_payload_filter(predicate: str) -> None:
    """Raise InvalidPathError unless XNAT can compile ``$[?(<predicate>)]`` (compileJsonPathFilter)."""
    compile_path("$[?(" + predicate + ")]")


def compile_path(path: str) -> None:
    """JsonPath.compile / PathCompiler.compile: raise InvalidPathError when ``path`` does not compile."""
    if not path:
        raise InvalidPathError("json can not be null or empty")
    try:
        index = CharacterIndex(path).trim()
        if index.char_at(0) not in "$@":
            index = CharacterIndex("$." + path).trim()
        if index.last_char_is("."):
            raise InvalidPathError("Path must not end with a '.' or '..'")
        _PathCompiler(index).read_context_token()
    except InvalidPathError:
        raise
    except (JavaError, ValueError, re.error) as error:
        raise InvalidPathError(str(error)) from error


class CharacterIndex:
    """internal/CharacterIndex.java: a cursor with an end position; char_at() reads the whole text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.end_position = len(text) - 1

    def __str__(self) -> str:
        return self.text

    def length(self) -> int:
        return self.end_position + 1

    def char_at(self, index: int) -> str:
        if not 0 <= index < len(self.text):
            raise JavaError(f"String index out of range: {index}")
        return self.text[index]

    def current_char(self) -> str:
        return self.char_at(self.position)

    def current_char_is(self, char: str) -> bool:
        return self.current_char() == char

    def last_char_is(self, char: str) -> bool:
        return self.char_at(self.end_position) == char

    def next_char_is(self, char: str) -> bool:
        return self.in_bounds(self.position + 1) and self.char_at(self.position + 1) == char

    def increment_position(self, count: int) -> None:
        self.position += count

    def decrement_end_position(self, count: int) -> None:
        self.end_position -= count

    def in_bounds(self, index: int | None = None) -> bool:
        index = self.position if index is None else index
        return 0 <= index <= self.end_position

    def is_out_of_bounds(self, index: int) -> bool:
        return not self.in_bounds(index)

    def current_is_tail(self) -> bool:
        return self.position >= self.end_position

    def has_more_characters(self) -> bool:
        return self.in_bounds(self.position + 1)

    def sub(self, start: int, end: int) -> str:
        if start < 0 or end > len(self.text) or start > end:
            raise JavaError(f"begin {start}, end {end}, length {len(self.text)}")
        return self.text[start:end]

    def skip_blanks(self) -> CharacterIndex:
        while self.in_bounds() and self.position < self.end_position and self.current_char() == SPACE:
            self.position += 1
        return self

    def trim(self) -> CharacterIndex:
        self.skip_blanks()
        while self.in_bounds() and self.position < self.end_position and self.last_char_is(SPACE):
            self.end_position -= 1
        return self

    def index_of_matching_close_char(
        self, start: int, open_char: str, close_char: str, skip_strings: bool, skip_regex: bool
    ) -> int:
        if self.char_at(start) != open_char:
            raise InvalidPathError(f"Expected {open_char} but found {self.char_at(start)}")
        opened, read = 1, start + 1
        while self.in_bounds(read):
            if skip_strings and self.char_at(read) in "'\"":
                quote = self.char_at(read)
                read = self.next_index_of_unescaped(read, quote)
                if read == -1:
                    raise InvalidPathError(
                        f"Could not find matching close quote for {quote} when parsing : {self}"
                    )
                read += 1
            if skip_regex and self.char_at(read) == "/":
                read = self.next_index_of_unescaped(read, "/")
                if read == -1:
                    raise InvalidPathError(
                        f"Could not find matching close for / when parsing regex in : {self}"
                    )
                read += 1
            if self.char_at(read) == open_char:
                opened += 1
            if self.char_at(read) == close_char:
                opened -= 1
                if opened == 0:
                    return read
            read += 1
        return -1

    def _first_non_space_after(self, start: int | None) -> int:
        read = (self.position if start is None else start) + 1
        while not self.is_out_of_bounds(read) and self.char_at(read) == SPACE:
            read += 1
        return read

    def index_of_next_significant_char(self, char: str, start: int | None = None) -> int:
        read = self._first_non_space_after(start)
        return read if self.char_at(read) == char else -1

    def next_index_of(self, start: int, char: str) -> int:
        read = start
        while not self.is_out_of_bounds(read):
            if self.char_at(read) == char:
                return read
            read += 1
        return -1

    def next_index_of_unescaped(self, start: int, char: str) -> int:
        read, in_escape = start + 1, False
        while not self.is_out_of_bounds(read):
            if in_escape:
                in_escape = False
            elif self.char_at(read) == "\\":
                in_escape = True
            elif self.char_at(read) == char:
                return read
            read += 1
        return -1

    def next_significant_char_is(self, char: str, start: int | None = None) -> bool:
        read = self._first_non_space_after(start)
        return not self.is_out_of_bounds(read) and self.char_at(read) == char

    def next_significant_char(self, start: int | None = None) -> str:
        read = self._first_non_space_after(start)
        return SPACE if self.is_out_of_bounds(read) else self.char_at(read)

    def read_significant_char(self, char: str) -> None:
        if self.skip_blanks().current_char() != char:
            raise InvalidPathError(f"Expected character: {char}")
        self.position += 1

    def has_significant_sub_sequence(self, text: str) -> bool:
        self.skip_blanks()
        if not self.in_bounds(self.position + len(text) - 1):
            return False
        if self.sub(self.position, self.position + len(text)) != text:
            return False
        self.position += len(text)
        return True

    def index_of_previous_significant_char(self, start: int | None = None) -> int:
        read = (self.position if start is None else start) - 1
        while not self.is_out_of_bounds(read) and self.char_at(read) == SPACE:
            read -= 1
        return -1 if self.is_out_of_bounds(read) else read

    def previous_significant_char(self) -> str:
        index = self.index_of_previous_significant_char()
        return SPACE if index == -1 else self.char_at(index)

    def is_number_character(self, index: int) -> bool:
        char = self.char_at(index)
        return char.isdigit() or char in "-.Ee"


class _PathCompiler:
    """internal/path/PathCompiler.java without building path tokens."""

    def __init__(self, path: CharacterIndex) -> None:
        self.path = path

    def read_context_token(self) -> None:
        path = self.path
        while path.in_bounds() and path.current_char() in WHITESPACE:
            path.increment_position(1)
        if path.current_char() not in "$@":
            raise InvalidPathError("Path must start with '$' or '@'")
        if path.current_is_tail():
            return
        path.increment_position(1)
        if path.current_char() not in ".[":
            raise InvalidPathError(f"Illegal character at position {path.position} expected '.' or '['")
        self.read_next_token()

    def read_next_token(self) -> bool:
        path = self.path
        char = path.current_char()
        if char == "[":
            if not (
                self.read_bracket_property_token()
                or self.read_array_token()
                or self.read_wildcard_token()
                or self.read_filter_token()
                or self.read_placeholder_token()
            ):
                raise InvalidPathError(
                    f"Could not parse token starting at position {path.position}. Expected ?, ', 0-9, * "
                )
            return True
        readers = {".": self.read_dot_token, "*": self.read_wildcard_token}
        if not readers.get(char, self.read_property_or_function_token)():
            raise InvalidPathError(f"Could not parse token starting at position {path.position}")
        return True

    def _continue(self) -> bool:
        return self.path.current_is_tail() or self.read_next_token()

    def read_dot_token(self) -> bool:
        path = self.path
        if path.current_char_is(".") and path.next_char_is("."):
            path.increment_position(2)
        elif not path.has_more_characters():
            raise InvalidPathError("Path must not end with a '.")
        else:
            path.increment_position(1)
        if path.current_char_is("."):
            raise InvalidPathError(f"Character '.' on position {path.position} is not valid.")
        return self.read_next_token()

    def read_property_or_function_token(self) -> bool:
        path = self.path
        if path.current_char() in "[*. ":
            return False
        start = read = path.position
        end = 0
        is_function = False
        while path.in_bounds(read):
            char = path.char_at(read)
            if char == SPACE:
                raise InvalidPathError(
                    "Use bracket notion ['my prop'] if your property contains blank characters. "
                    f"position: {path.position}"
                )
            if char in ".[":
                end = read
                break
            if char == "(":
                is_function, end = True, read
                break
            read += 1
        if end == 0:
            end = path.length()
        if not is_function:
            path.position = end
            return self._continue()
        depth = 1
        for index in range(read + 1, path.length()):
            if path.char_at(index) == ")":
                depth -= 1
            elif path.char_at(index) == "(":
                depth += 1
            if depth == 0:
                break
        name = path.sub(start, end)
        if depth != 0:
            raise InvalidPathError(f"Arguments to function: '{name}' are not closed properly.")
        if path.in_bounds(read + 1):
            if path.char_at(read + 1) != ")":
                path.position = end + 1
                self.parse_function_parameters(name)
            else:
                path.position = read + 1
        else:
            path.position = read
        return self._continue()

    def parse_function_parameters(self, name: str) -> None:
        """Split the arguments as Jayway does; path arguments are compiled, JSON ones only later."""
        path = self.path
        kind: str | None = None
        paren, bracket, brace, quote = 1, 0, 0, 0
        end_of_stream, prior = False, ""
        parameter: list[str] = []
        while path.in_bounds() and not end_of_stream:
            char = path.current_char()
            path.increment_position(1)
            if kind is None:
                if char in WHITESPACE:
                    continue
                if char == "{" or char.isdigit() or char in '"-':
                    kind = "json"
                elif char in "$@":
                    kind = "path"
            if char == '"':
                if prior != "\\" and quote > 0:
                    quote -= 1
                else:
                    quote += 1
            elif char == "(":
                paren += 1
            elif char == "{":
                brace += 1
            elif char == "[":
                bracket += 1
            elif char == "}":
                if brace == 0:
                    raise InvalidPathError(
                        f"Unexpected close brace '}}' at character position: {path.position}"
                    )
                brace -= 1
            elif char == "]":
                if bracket == 0:
                    raise InvalidPathError(
                        f"Unexpected close bracket ']' at character position: {path.position}"
                    )
                bracket -= 1
            if char == ")":
                paren -= 1
                if paren < 0 or prior == "(":
                    parameter.append(char)
            if char in "),":
                closes = (paren == 0 and char == ")") or paren == 1
                if quote == 0 and brace == 0 and bracket == 0 and closes:
                    end_of_stream = paren == 0
                    if kind is not None:
                        if kind == "path":
                            compile_path("".join(parameter))
                        parameter, kind = [], None
            if kind is not None and not (char == "," and brace == 0 and bracket == 0 and paren == 1):
                parameter.append(char)
            prior = char
        if brace or paren or bracket:
            raise InvalidPathError(f"Arguments to function: '{name}' are not closed properly.")

    def read_placeholder_token(self) -> bool:
        """``[?]`` placeholders need predicates passed to compile(); XNAT passes none."""
        path = self.path
        if not path.current_char_is("["):
            return False
        question = path.index_of_next_significant_char("?")
        if question == -1 or path.next_significant_char(question) not in "],":
            return False
        begin = path.position + 1
        end = path.next_index_of(begin, "]")
        if end == -1:
            return False
        expression = path.sub(begin, end)
        raise InvalidPathError(
            f"Not enough predicates supplied for filter [{expression}] at position {path.position}"
        )

    def read_filter_token(self) -> bool:
        path = self.path
        if not path.current_char_is("[") and not path.next_significant_char_is("?"):
            return False
        open_statement = path.position
        question = path.index_of_next_significant_char("?")
        if question == -1:
            return False
        open_bracket = path.index_of_next_significant_char("(", question)
        if open_bracket == -1:
            return False
        close_bracket = path.index_of_matching_close_char(open_bracket, "(", ")", True, True)
        if close_bracket == -1 or not path.next_significant_char_is("]", close_bracket):
            return False
        close_statement = path.index_of_next_significant_char("]", close_bracket)
        _FilterCompiler(path.sub(open_statement, close_statement + 1)).compile()
        path.position = close_statement + 1
        return self._continue()

    def read_wildcard_token(self) -> bool:
        path = self.path
        in_bracket = path.current_char_is("[")
        if in_bracket and not path.next_significant_char_is("*"):
            return False
        if not path.current_char_is("*") and path.is_out_of_bounds(path.position + 1):
            return False
        if in_bracket:
            wildcard = path.index_of_next_significant_char("*")
            if not path.next_significant_char_is("]", wildcard):
                raise InvalidPathError(f"Expected wildcard token to end with ']' on position {wildcard + 1}")
            path.position = path.index_of_next_significant_char("]", wildcard) + 1
        else:
            path.increment_position(1)
        return self._continue()

    def read_array_token(self) -> bool:
        path = self.path
        if not path.current_char_is("["):
            return False
        following = path.next_significant_char()
        if not following.isdigit() and following not in "-:":
            return False
        begin = path.position + 1
        end = path.next_index_of(begin, "]")
        if end == -1:
            return False
        expression = path.sub(begin, end).strip()
        if expression == "*" or any(not c.isdigit() and c not in ",-: " for c in expression):
            return False
        if ":" in expression:
            _parse_slice(expression)
        else:
            _parse_indexes(expression)
        path.position = end + 1
        return self._continue()

    def read_bracket_property_token(self) -> bool:
        path = self.path
        if not path.current_char_is("["):
            return False
        delimiter = path.next_significant_char()
        if delimiter not in "'\"":
            return False
        properties = 0
        start = read = path.position + 1
        end = 0
        in_property = in_escape = last_was_comma = False
        while path.in_bounds(read):
            char = path.char_at(read)
            if in_escape:
                in_escape = False
            elif char == "\\":
                in_escape = True
            elif char == "]" and not in_property:
                if last_was_comma:
                    raise InvalidPathError(f"Found empty property at index {read}")
                break
            elif char == delimiter:
                if in_property:
                    if path.next_significant_char(read) not in "],":
                        raise InvalidPathError(
                            "Property must be separated by comma or Property must be terminated close square "
                            f"bracket at index {read}"
                        )
                    end = read
                    _unescape(path.sub(start, end))
                    properties += 1
                    in_property = False
                else:
                    start, in_property, last_was_comma = read + 1, True, False
            elif char == "," and not in_property:
                if last_was_comma:
                    raise InvalidPathError(f"Found empty property at index {read}")
                last_was_comma = True
            read += 1
        if in_property:
            raise InvalidPathError(f"Property has not been closed - missing closing {delimiter}")
        path.position = path.index_of_next_significant_char("]", end) + 1
        if properties == 0:
            raise InvalidPathError("Empty properties")
        return self._continue()


def _parse_slice(operation: str) -> None:
    """ArraySliceOperation.parse (on the trimmed expression)."""
    if any(not c.isdigit() and c not in "-:" for c in operation):
        raise InvalidPathError(f"Failed to parse SliceOperation: {operation}")
    tokens = _java_split(operation, ":")
    bounds = [_java_int(tokens[i]) if len(tokens) > i and tokens[i] != "" else None for i in (0, 1)]
    if bounds == [None, None]:
        raise InvalidPathError(f"Failed to parse SliceOperation: {operation}")


def _parse_indexes(operation: str) -> None:
    """ArrayIndexOperation.parse: a comma list of integers (``split(",", -1)`` keeps empty tokens)."""
    if any(not c.isdigit() and c not in ", -" for c in operation):
        raise InvalidPathError(f"Failed to parse ArrayIndexOperation: {operation}")
    for token in re.split(r"\s*,\s*", operation):
        try:
            _java_int(token)
        except JavaError as error:
            raise InvalidPathError(f"Failed to parse token in ArrayIndexOperation: {token}") from error


def _java_split(text: str, separator: str) -> list[str]:
    """String.split(regex): trailing empty strings are removed."""
    parts = text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _java_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text) or not -(2**31) <= int(text) < 2**31:
        raise JavaError(f'java.lang.NumberFormatException: For input string: "{text}"')
    return int(text)


def _unescape(text: str) -> None:
    """Utils.unescape fails only on a ``\\u`` escape that is not four hex digits."""
    index = 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            if text[index + 1] == "u":
                digits = text[index + 2 : index + 6]
                if len(digits) == 4 and not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                    raise JavaError(f"Unable to parse unicode value: {digits}")
                index += 6
                continue
            index += 2
            continue
        index += 1


class _FilterCompiler:
    """internal/filter/FilterCompiler.java: ``[?( ... )]``."""

    def __init__(self, text: str) -> None:
        self.filter = index = CharacterIndex(text).trim()
        if not index.current_char_is("[") or not index.last_char_is("]"):
            raise InvalidPathError(f"Filter must start with '[' and end with ']'. {text}")
        index.increment_position(1)
        index.decrement_end_position(1)
        index.trim()
        if not index.current_char_is("?"):
            raise InvalidPathError(f"Filter must start with '[?' and end with ']'. {text}")
        index.increment_position(1)
        index.trim()
        if not index.current_char_is("(") or not index.last_char_is(")"):
            raise InvalidPathError(f"Filter must start with '[?(' and end with ')]'. {text}")

    def compile(self) -> None:
        index = self.filter
        try:
            self.read_logical_or()
            index.skip_blanks()
            if index.in_bounds():
                rest = index.sub(index.position, index.length())
                raise InvalidPathError(f"Expected end of filter expression instead of: {rest}")
        except InvalidPathError:
            raise
        except (JavaError, ValueError, re.error) as error:
            raise InvalidPathError(
                f"Failed to parse filter: {index}, error on position: {index.position}, "
                f"char: {index.current_char()}"
            ) from error

    def read_logical_or(self) -> None:
        """LogicalOR = LogicalAND { '||' LogicalAND }."""
        self._read_joined("||", self.read_logical_and)

    def read_logical_and(self) -> None:
        """LogicalAND = LogicalANDOperand { '&&' LogicalANDOperand }."""
        self._read_joined("&&", self.read_logical_and_operand)

    def _read_joined(self, operator: str, read_operand: Callable[[], None]) -> None:
        read_operand()
        while True:
            savepoint = self.filter.position
            if not self.filter.has_significant_sub_sequence(operator):
                self.filter.position = savepoint
                return
            read_operand()

    def read_logical_and_operand(self) -> None:
        index = self.filter
        savepoint = index.skip_blanks().position
        if index.skip_blanks().current_char_is("!"):
            index.read_significant_char("!")
            if index.skip_blanks().current_char() in "$@":
                index.position = savepoint
            else:
                self.read_logical_and_operand()
                return
        if index.skip_blanks().current_char_is("("):
            index.read_significant_char("(")
            self.read_logical_or()
            index.read_significant_char(")")
            return
        self.read_expression()

    def read_expression(self) -> None:
        left_is_path = self.read_value_node()
        savepoint = self.filter.position
        try:
            self.read_relational_operator()
            self.read_value_node()
            return
        except InvalidPathError:
            self.filter.position = savepoint
        if not left_is_path:
            raise InvalidPathError("Expected path node")

    def read_value_node(self) -> bool:
        """Read one operand; True when it is a path (the only kind an exists-check can use)."""
        index = self.filter
        char = index.skip_blanks().current_char()
        if char in "$@":
            self.read_path()
            return True
        if char == "!":
            index.increment_position(1)
            if index.skip_blanks().current_char() not in "$@":
                raise InvalidPathError("Unexpected character: !")
            self.read_path()
            return True
        self.read_literal()
        return False

    def read_literal(self) -> None:
        char = self.filter.skip_blanks().current_char()
        if char in "'\"":
            self.read_string_literal(char)
        elif char in "tf":
            self.read_boolean_literal()
        elif char == "n":
            self.read_null_literal()
        elif char in "{[":
            self.read_json_literal(char)
        elif char == "/":
            self.read_pattern()
        else:
            self.read_number_literal()

    def read_relational_operator(self) -> None:
        index = self.filter
        begin = index.skip_blanks().position
        if _is_relational_char(index.current_char()):
            while index.in_bounds() and _is_relational_char(index.current_char()):
                index.increment_position(1)
        else:
            while index.in_bounds() and index.current_char() != SPACE:
                index.increment_position(1)
        operator = index.sub(begin, index.position)
        if operator.upper() not in RELATIONAL_OPERATORS:
            raise InvalidPathError(f"Filter operator {operator} is not supported!")

    def read_null_literal(self) -> None:
        index = self.filter
        if (
            index.current_char() == "n"
            and index.in_bounds(index.position + 3)
            and index.sub(index.position, index.position + 4) == "null"
        ):
            index.increment_position(4)
            return
        raise InvalidPathError("Expected <null> value")

    def read_json_literal(self, open_char: str) -> None:
        index = self.filter
        close_char = "]" if open_char == "[" else "}"
        closing = index.index_of_matching_close_char(index.position, open_char, close_char, True, False)
        if closing == -1:
            raise InvalidPathError(f"String not closed. Expected ' in {index}")
        index.position = closing + 1

    def read_pattern(self) -> None:
        index = self.filter
        begin = index.position
        closing = index.next_index_of_unescaped(index.position, "/")
        if closing == -1:
            raise InvalidPathError(f"Pattern not closed. Expected / in {index}")
        flags_end = closing + 1
        while index.in_bounds(flags_end) and index.char_at(flags_end) in PATTERN_FLAGS:
            flags_end += 1
        index.position = flags_end
        literal = index.sub(begin, index.position)
        pattern = literal[literal.index("/") + 1 : literal.rindex("/")]
        flags = 0
        for flag in literal[literal.rindex("/") + 1 :]:
            flags |= PATTERN_FLAGS[flag]
        re.compile(pattern, flags)

    def read_string_literal(self, end_char: str) -> None:
        index = self.filter
        begin = index.position
        closing = index.next_index_of_unescaped(index.position, end_char)
        if closing == -1:
            raise InvalidPathError(
                f"String literal does not have matching quotes. Expected {end_char} in {index}"
            )
        index.position = closing + 1
        _unescape(index.sub(begin + 1, index.position - 1))

    def read_number_literal(self) -> None:
        index = self.filter
        begin = index.position
        while index.in_bounds() and index.is_number_character(index.position):
            index.increment_position(1)
        number = index.sub(begin, index.position)
        if not BIG_DECIMAL.fullmatch(number):  # new BigDecimal(...) at compile time
            raise JavaError(f'java.lang.NumberFormatException: Character array is missing "{number}"')

    def read_boolean_literal(self) -> None:
        index = self.filter
        begin = index.position
        end = begin + 3 if index.current_char() == "t" else begin + 4
        if not index.in_bounds(end) or index.sub(begin, end + 1) not in ("true", "false"):
            raise InvalidPathError("Expected boolean literal")
        index.position = end + 1

    def read_path(self) -> None:
        index = self.filter
        begin = index.position
        index.increment_position(1)  # $ or @
        while index.in_bounds():
            if index.current_char() == "[":
                closing = index.index_of_matching_close_char(index.position, "[", "]", True, False)
                if closing == -1:
                    raise InvalidPathError(f"Square brackets does not match in filter {index}")
                index.position = closing + 1
            closing_function = index.current_char() == ")" and self._closes_function(begin)
            closing_logical = index.current_char() == ")" and not closing_function
            current = index.current_char()
            if not index.in_bounds() or _is_relational_char(current) or current == SPACE or closing_logical:
                break
            index.increment_position(1)
        compile_path(index.sub(begin, index.position))

    def _closes_function(self, lower_bound: int) -> bool:
        """currentCharIsClosingFunctionBracket: ``)`` right after ``(`` with a ``.`` before it."""
        index = self.filter
        previous = index.index_of_previous_significant_char()
        if previous == -1 or index.char_at(previous) != "(":
            return False
        previous -= 1
        while index.in_bounds(previous) and previous > lower_bound:
            if index.char_at(previous) == ".":
                return True
            previous -= 1
        return False


def _is_relational_char(char: str) -> bool:
    return char in "<>=~!"
