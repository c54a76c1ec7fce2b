"""What can go wrong in an export: errors stop a session or the command (exit 2), findings are reported
(exit 1)."""

from __future__ import annotations


class ExportError(Exception):
    """The export could not do its job; the message names the session, scan, PACS entry or URL."""


class DestinationError(ExportError):
    """The destination node could not be asked (no association, refused, a failed C-FIND)."""
