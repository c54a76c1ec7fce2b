"""Report helpers shared by the audit commands: JSON, text and HTML (jinja2, autoescaped) output.

HTML reports extend ``compliance/templates/base.html.j2``, which lays out a title, a summary block
(always first), the detail and a sign-off block for the information-governance reviewer. Templates
fill the blocks ``summary`` and ``content``; the base provides ``signoff``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compliance import __version__

if TYPE_CHECKING:
    import jinja2

SEVERITIES = ("error", "warning", "info")
FORMATS = ("text", "json", "html")


class ReportWriteError(OSError):
    """The report could not be written to the requested file."""


@cache
def template_environment() -> jinja2.Environment:
    """The jinja2 environment over ``compliance/templates`` with HTML autoescaping always on."""
    import jinja2  # noqa: PLC0415 - only report rendering needs it

    return jinja2.Environment(
        loader=jinja2.PackageLoader("compliance", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def report_metadata(title: str, subject: str) -> dict[str, str]:
    """Context every HTML report needs: title, what was reviewed, when and by which tool version."""
    return {
        "report_title": title,
        "subject": subject,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "tool_version": __version__,
    }


def render_html(template_name: str, **context: Any) -> str:
    """Render one of the package's templates; values are HTML-escaped by the environment."""
    return template_environment().get_template(template_name).render(**context)


def to_json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def count_by_severity(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts of ``item["severity"]`` for every known severity (zero included), in severity order."""
    counts = Counter(item["severity"] for item in items)
    return {severity: counts.get(severity, 0) for severity in SEVERITIES}


def write_report(text: str, output: Path | None) -> None:
    """Write to ``output`` (created or replaced), or to stdout when no file is given."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ReportWriteError(f"cannot write report to {output}: {error.strerror or error}") from error


def text_table(headers: list[str], rows: Iterable[list[str]]) -> list[str]:
    """A plain fixed-width table for terminals."""
    materialised = [[str(cell) for cell in row] for row in rows]
    widths = [
        max([len(header)] + [len(row[index]) for row in materialised]) for index, header in enumerate(headers)
    ]
    lines = ["  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in materialised
    )
    return lines
