"""Abstract syntax tree of a DicomEdit 6 script.

Every node is a frozen dataclass carrying the 1-based ``line`` and ``column`` where it starts in the
script text, so that tools built on the tree (the interpreter, the Annex E audit) can point at the
exact place in the file. The tree is a faithful record of what was written: a second ``version`` line,
a conditional action or a tag path with wildcards all stay visible to later passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, fields

HEX_WILDCARDS = frozenset("Xx#@")
ANY_ITEM = "%"


@dataclass(frozen=True)
class Node:
    line: int
    column: int

    def children(self) -> Iterator[Node]:
        """The direct child nodes, in source order."""
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, tuple):
                yield from (item for item in value if isinstance(item, Node))


def walk(node: Node) -> Iterator[Node]:
    """Yield ``node`` and every node below it, depth first, in source order."""
    yield node
    for child in node.children():
        yield from walk(child)


# --- tag paths --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagElement(Node):
    """One attribute in a tag path, e.g. ``(0010,0010)``, ``(50X@,XXXX)`` or ``(0019,{SIEMENS}0F)``.

    ``group`` is four characters and ``element`` four (public) or two (private, the low byte of the
    element inside the creator's block); both may hold the wildcards ``X``/``x`` (any hex digit),
    ``#`` (odd digit) and ``@`` (even digit). ``item`` is the sequence item index written after the
    tag (``[0]``), ``"%"`` for any item, or ``None`` when none was written.
    """

    group: str
    element: str
    creator: str | None = None
    item: int | str | None = None
    text: str = ""

    @property
    def is_private(self) -> bool:
        return self.creator is not None or _is_odd_hex(self.group[-1])

    @property
    def has_wildcard(self) -> bool:
        return any(char in HEX_WILDCARDS for char in self.group + self.element)

    @property
    def tag(self) -> int | None:
        """The tag as an int, or None when the element has wildcards or a private creator."""
        if self.has_wildcard or self.creator is not None:
            return None
        return int(self.group + self.element, 16)

    def pattern(self) -> re.Pattern[str]:
        """A regex matching the 8 upper-case hex digits of every tag this element denotes.

        For a private element with a creator only the group and the low byte are constrained
        (the block byte depends on which block the creator reserved in each dataset).
        """
        element = ("[0-9A-F]{2}" + hex_pattern(self.element)) if self.creator else hex_pattern(self.element)
        return re.compile(hex_pattern(self.group) + element)


@dataclass(frozen=True)
class SequenceWildcard(Node):
    """``+`` (any sequence depth, at least one level), ``*`` (any depth, incl. top level) or ``.``."""

    kind: str


PathSegment = TagElement | SequenceWildcard


@dataclass(frozen=True)
class TagPath(Node):
    """A tag path: sequence segments separated by ``/``, ending in the target attribute."""

    segments: tuple[PathSegment, ...]
    text: str = ""

    @property
    def target(self) -> TagElement | None:
        """The attribute the path ends in (None for a path that ends in a wildcard)."""
        last = self.segments[-1]
        return last if isinstance(last, TagElement) else None

    @property
    def is_top_level(self) -> bool:
        """True when the path names a single top-level attribute (no sequence, no wildcard prefix)."""
        return len(self.segments) == 1 and isinstance(self.segments[0], TagElement)


# --- values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StringLiteral(Node):
    value: str
    text: str = ""  # as written, with quotes and escapes


@dataclass(frozen=True)
class IntegerLiteral(Node):
    value: int


@dataclass(frozen=True)
class FloatLiteral(Node):
    value: float
    text: str = ""


@dataclass(frozen=True)
class Variable(Node):
    name: str


@dataclass(frozen=True)
class FunctionCall(Node):
    name: str
    arguments: tuple[Value, ...] = ()


@dataclass(frozen=True)
class ListValue(Node):
    items: tuple[Value, ...] = ()


Value = StringLiteral | IntegerLiteral | FloatLiteral | TagPath | Variable | FunctionCall | ListValue


# --- conditions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison(Node):
    """``left op right`` with op one of ``=``, ``!=``, ``~`` (regex match), ``!~``."""

    left: Value
    operator: str
    right: Value


Condition = Comparison | FunctionCall


# --- statements -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version(Node):
    value: str


@dataclass(frozen=True)
class Assign(Node):
    """``(gggg,eeee) := value``."""

    target: TagPath
    value: Value


@dataclass(frozen=True)
class AssignIfExists(Node):
    """``(gggg,eeee) ?= value``: assign only when the attribute is present."""

    target: TagPath
    value: Value


@dataclass(frozen=True)
class Delete(Node):
    """``-(gggg,eeee)``."""

    target: TagPath


@dataclass(frozen=True)
class Initialize(Node):
    """``name := value`` (a script variable; the value may be a list)."""

    name: str
    value: Value


@dataclass(frozen=True)
class FunctionStatement(Node):
    """A function called for its effect, e.g. ``removeTags[...]`` or ``alterPixels[...]``."""

    call: FunctionCall


@dataclass(frozen=True)
class Echo(Node):
    value: Value | None = None


@dataclass(frozen=True)
class RemoveAllPrivateTags(Node):
    pass


Action = Assign | AssignIfExists | Delete | Initialize | FunctionStatement | Echo


@dataclass(frozen=True)
class Conditional(Node):
    """``condition ? action`` or ``condition ? action : otherwise``."""

    condition: Condition
    action: Action
    otherwise: Action | None = None


@dataclass(frozen=True)
class Branch(Node):
    """One ``if (cond) {...}`` or ``elseif (cond) {...}`` arm."""

    condition: Condition
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class IfBlock(Node):
    """``if (c) {...} elseif (c) {...} else {...}``; ``otherwise`` is None when there is no else."""

    branches: tuple[Branch, ...]
    otherwise: tuple[Statement, ...] | None = None


@dataclass(frozen=True)
class Describe(Node):
    """``describe NAME "label"`` or ``describe NAME hidden|const|immutable``."""

    name: str
    label: str | None = None
    modifier: str | None = None


@dataclass(frozen=True)
class Export(Node):
    """``export NAME "field"``."""

    name: str
    field: str


Statement = (
    Assign
    | AssignIfExists
    | Delete
    | Initialize
    | FunctionStatement
    | Echo
    | RemoveAllPrivateTags
    | Conditional
    | IfBlock
    | Describe
    | Export
    | Version
)


@dataclass(frozen=True)
class Script(Node):
    """A parsed script. ``versions`` lists every version line in order (more than one is legal
    syntax but suspicious); ``version`` is the first one's value, None when the script has none."""

    statements: tuple[Statement, ...]
    source: str = "<script>"

    @property
    def versions(self) -> tuple[Version, ...]:
        return tuple(node for node in walk(self) if isinstance(node, Version))

    @property
    def version(self) -> str | None:
        versions = self.versions
        return versions[0].value if versions else None


def _is_odd_hex(char: str) -> bool:
    return char == "#" or (char in "13579bBdDfF")


_DIGIT_CLASSES = {
    "X": "[0-9A-F]",
    "x": "[0-9A-F]",
    "#": "[13579BDF]",
    "@": "[02468ACE]",
}


def hex_pattern(digits: str) -> str:
    """A regex for hex digits written with DicomEdit's wildcards X/x (any), # (odd), @ (even)."""
    return "".join(_DIGIT_CLASSES.get(char, char.upper()) for char in digits)
