"""Optional e-mail of a report summary through the trust's SMTP relay (no credentials, no TLS setup)."""

from __future__ import annotations

import argparse
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any


class MailError(Exception):
    """The summary could not be sent."""


def add_arguments(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group("optional e-mail summary")
    group.add_argument(
        "--mail-to", action="append", default=[], metavar="ADDRESS", help="send the summary here"
    )
    group.add_argument("--mail-from", default="xnat-audit@localhost", metavar="ADDRESS")
    group.add_argument(
        "--smtp-host", default="localhost", metavar="HOST", help="SMTP relay (default localhost)"
    )
    group.add_argument("--smtp-port", type=int, default=25, metavar="PORT")


def subject_for(document: dict[str, Any]) -> str:
    summary = document["summary"]
    severities = ", ".join(f"{count} {name}" for name, count in summary["by_severity"].items() if count)
    return (
        f"[{summary['trust']}] {summary.get('title', 'XNAT access review')}: {summary['total']} findings"
        + (f" ({severities})" if severities else "")
    )


def send_summary(args: argparse.Namespace, subject: str, body: str, attachment: Path | None = None) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = args.mail_from
    message["To"] = ", ".join(args.mail_to)
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(
            attachment.read_bytes(), maintype="text", subtype="html", filename=attachment.name
        )
    try:
        with smtplib.SMTP(args.smtp_host, args.smtp_port, timeout=30) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(
            "reports were written but the summary could not be mailed via "
            f"{args.smtp_host}:{args.smtp_port}: {error}"
        ) from error
