"""The access-review reports themselves: counts with empty severities, CSV cells, and what the HTML shows."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime

import pytest
from access_review_seeds import ACCESS_LIST
from html_tables import read_sections

from compliance.access import mail
from compliance.access.accesslist import parse_access_list
from compliance.access.reports import Changes, build_document, render_csv, render_html_report, render_text
from compliance.access.review import SEVERITIES, Finding, review, summarise
from compliance.access.xnat_reader import XnatProject, XnatSnapshot, XnatUser

ACCESS = parse_access_list(ACCESS_LIST, "trust_test.yml")
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def snapshot() -> XnatSnapshot:
    """A small XNAT with a critical, high, medium and low finding, and two zero-count severities at will."""
    users = {
        "mallory": XnatUser("mallory", True, True, NOW, roles=frozenset({"Administrator"})),
        "bob": XnatUser("bob", True, True, NOW),
        "eve": XnatUser("eve", True, True, NOW),
        "oscar": XnatUser("oscar", True, True, datetime(2026, 1, 5, tzinfo=UTC)),
    }
    projects = {
        "CARDIO01": XnatProject("CARDIO01", "Cardio", "private", {"bob": "owner", "eve": "member"}),
    }
    return XnatSnapshot(
        "https://xnat.trust.example", users, projects, Counter({"GET /xapi/users/profiles": 1})
    )


def document_for(findings: list[Finding], changes: Changes | None = None) -> dict:
    summary = summarise(findings, ACCESS, snapshot(), NOW, NOW)
    return build_document(findings, summary, changes or Changes(None, [], []))


def test_every_severity_is_counted_even_when_none_has_that_severity():
    findings = [f for f in review(ACCESS, snapshot(), NOW) if f.severity in {"critical", "medium"}]
    document = document_for(findings)
    by_severity = document["summary"]["by_severity"]
    assert list(by_severity) == list(SEVERITIES)
    assert by_severity == {
        "critical": sum(f.severity == "critical" for f in findings),
        "high": 0,
        "medium": sum(f.severity == "medium" for f in findings),
        "low": 0,
    }
    assert by_severity["critical"] == 1 and by_severity["medium"] == 1
    assert "2 findings: 1 critical, 0 high, 1 medium, 0 low;" in render_text(document)
    assert mail.subject_for(document) == "[trust-test] XNAT access review: 2 findings (1 critical, 1 medium)"
    summary_text = read_sections(render_html_report(document))["summary"].text
    assert "Findings by severity critical 1 high 0 medium 1 low 0" in summary_text


def test_no_findings_counts_zero_everywhere():
    document = document_for([])
    assert document["summary"]["by_severity"] == dict.fromkeys(SEVERITIES, 0)
    assert document["summary"]["total"] == 0
    assert mail.subject_for(document) == "[trust-test] XNAT access review: 0 findings"
    sections = read_sections(render_html_report(document))
    assert "XNAT matches the access list: no findings." in sections["findings"].text
    assert "Findings by project No findings." in sections["summary"].text


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_cannot_start_a_spreadsheet_formula(start):
    value = f'{start}HYPERLINK("http://x", "click")'
    finding = {
        "severity": "high",
        "code": "member-not-approved",
        "project": "P",
        "user": value,
        "message": value,
    }
    [row] = list(csv.DictReader(io.StringIO(render_csv({"findings": [finding]}))))
    assert row["user"] == row["message"] == f"'{value}"


@pytest.mark.parametrize("value", ["bob", "a-b", "x=y", "1+1", "mail@trust", " =padded"])
def test_csv_cells_that_cannot_be_read_as_formulas_are_kept_as_they_are(value):
    finding = {"severity": "low", "code": "c", "project": "", "user": value, "message": "m"}
    [row] = list(csv.DictReader(io.StringIO(render_csv({"findings": [finding]}))))
    assert row["user"] == value


def test_the_html_report_lists_every_finding_with_all_its_fields_in_order():
    findings = review(ACCESS, snapshot(), NOW)
    assert {f.severity for f in findings} == set(SEVERITIES)
    sections = read_sections(render_html_report(document_for(findings)))
    header, *rows = sections["findings"].rows
    assert header == ["Severity", "Code", "Project", "User", "Finding"]
    assert rows == [[f.severity, f.code, f.project, f.user, f.message] for f in findings]
    summary = sections["summary"].text
    assert f"{len(findings)} findings (0 new, 0 resolved since no previous run)" in summary
    assert (
        "Trust trust-test, access list trust_test.yml, expiry and dormancy judged as of 2026-11-20."
        in summary
    )
    assert sections["calls"].rows == [["Route", "Calls"], ["GET /xapi/users/profiles", "1"]]
    assert "This is the first recorded run." in sections["changes"].text
    assert sections["signoff"].rows[0] == [
        "Decision",
        "\u2610 Approved \u2610 Approved with actions \u2610 Rejected",
    ]


def test_the_html_report_shows_what_changed_since_the_previous_run():
    findings = review(ACCESS, snapshot(), NOW)
    new, resolved = findings[0].to_json(), {**findings[1].to_json(), "user": "walter"}
    changes = Changes("20261113T060000Z", [new], [resolved])
    text = read_sections(render_html_report(document_for(findings, changes)))["changes"].text
    assert "Compared with the run of 20261113T060000Z." in text
    shown_new = f"New (1) {new['severity']} {new['code']} {new['project']} {new['user']}: {new['message']}"
    assert " ".join(shown_new.split()) in text
    shown_resolved = f"Resolved (1) {resolved['code']} {resolved['project']} walter: {resolved['message']}"
    assert " ".join(shown_resolved.split()) in text


def test_values_from_xnat_are_escaped_in_the_html():
    hostile = Finding("high", "member-not-approved", "P", "<script>alert(1)</script>", "m & <b>n</b>")
    html = render_html_report(document_for([hostile]))
    assert "<script>alert(1)</script>" not in html
    assert read_sections(html)["findings"].rows[1] == [
        "high",
        "member-not-approved",
        "P",
        "<script>alert(1)</script>",
        "m & <b>n</b>",
    ]
