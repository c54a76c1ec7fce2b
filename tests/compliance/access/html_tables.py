"""Read a rendered HTML report back as its reader sees it: the text of each section, table rows as cells.

Whitespace is collapsed (no-break spaces included), and elements separate words as a browser shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

INLINE = frozenset({"a", "b", "code", "em", "i", "strong"})


@dataclass
class Section:
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)  # every <tr> of the section, cells as text


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, Section] = {}
        self._open: list[str] = []  # ids of the <section>s we are inside
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_style = False

    def _boundary(self, tag: str) -> None:
        """Elements separate words as a browser lays them out (grid cells, list items); inline ones do not."""
        if tag in INLINE:
            return
        for name in self._open:
            self.sections[name].text += " "
        if self._cell is not None:
            self._cell.append(" ")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._boundary(tag)
        self._in_style = tag in {"style", "script"}
        if tag == "section":
            name = dict(attrs).get("id") or f"section-{len(self.sections)}"
            self.sections[name] = Section()
            self._open.append(name)
        elif tag == "tr":
            self._row = []
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        self._boundary(tag)
        self._in_style = False
        if tag == "section" and self._open:
            self._open.pop()
        elif tag in {"td", "th"} and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._open:
                self.sections[self._open[-1]].rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            return
        if self._cell is not None:
            self._cell.append(data)
        for name in self._open:
            self.sections[name].text += data


def read_sections(html: str) -> dict[str, Section]:
    """Sections by id, each with its visible text (whitespace collapsed) and table rows."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    for section in reader.sections.values():
        section.text = " ".join(section.text.split())
    return reader.sections
