"""The optional mail summary: sent through an SMTP relay, and a relay failure is an error (exit 2)."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from access_review_seeds import ACCESS_LIST, AS_OF, SEED

from compliance.cli import main


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept one message; stores the DATA in server.messages."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 sink ready")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 sink")
            elif command == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.server.messages.append(data)
                self.reply("250 queued")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp_sink() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSink)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def review_args(url: str, tmp_path: Path, port: int) -> list[str]:
    access = tmp_path / "access.yml"
    access.write_text(ACCESS_LIST)
    return [
        "access",
        "review",
        "--xnat",
        url,
        "--access-list",
        str(access),
        "--out",
        str(tmp_path / "out"),
        "--as-of",
        AS_OF,
        "--mail-to",
        "ig@trust.nhs.uk",
        "--mail-to",
        "pacs@trust.nhs.uk",
        "--mail-from",
        "xnat-audit@audit.trust.nhs.uk",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(port),
    ]


@pytest.fixture
def audit_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XNAT_USER", "svc_audit")
    monkeypatch.setenv("XNAT_PASS", "svc_audit-pw")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def test_summary_is_mailed_with_the_html_report(xnat_double, audit_env, smtp_sink, tmp_path, capsys):
    xnat_double.seed(SEED)
    status = main(review_args(xnat_double.url, tmp_path, smtp_sink.server_address[1]))
    total = json.loads(capsys.readouterr().out)["summary"]["total"]
    assert status == 1
    [raw] = smtp_sink.messages
    message = message_from_bytes(raw)
    assert message["To"] == "ig@trust.nhs.uk, pacs@trust.nhs.uk"
    assert message["Subject"].startswith(f"[trust-test] XNAT access review: {total} findings (4 critical")
    parts = {part.get_content_type(): part for part in message.walk()}
    assert "Access review of" in parts["text/plain"].get_payload(decode=True).decode()
    assert parts["text/html"].get_filename() == "access-review.html"


def test_unreachable_relay_is_an_error_after_the_reports_are_written(
    xnat_double, audit_env, tmp_path, capsys
):
    xnat_double.seed(SEED)
    status = main(review_args(xnat_double.url, tmp_path, 9))
    assert status == 2
    assert (
        "reports were written but the summary could not be mailed via 127.0.0.1:9" in capsys.readouterr().err
    )
    assert (tmp_path / "out" / "access-review.json").exists()
