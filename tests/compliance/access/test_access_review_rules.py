"""Rules of the review that the double scenario does not pin down: boundaries, and XNAT without rolemap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from access_review_seeds import ACCESS_LIST, SEED
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from compliance.access.accesslist import parse_access_list
from compliance.access.reports import render_csv
from compliance.access.review import review
from compliance.access.xnat_reader import XnatProject, XnatSnapshot, XnatUser, parse_login_time, read_xnat
from compliance.xnat.session import Credentials, CredentialsError, find_credentials

ACCESS = parse_access_list(ACCESS_LIST, "trust_test.yml")


def snapshot(users: list[XnatUser], members: dict[str, str] | None = None) -> XnatSnapshot:
    project = XnatProject("CARDIO01", "Cardio", "private", members or {})
    return XnatSnapshot("http://xnat", {user.username: user for user in users}, {"CARDIO01": project})


def codes(findings) -> set[tuple[str, str, str]]:
    return {(finding.code, finding.project, finding.user) for finding in findings}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_dormancy_boundary_is_exclusive():
    login = at("2026-08-01T12:00:00")
    carol = XnatUser("carol", enabled=True, verified=True, last_login=login)
    on_the_day = review(ACCESS, snapshot([carol]), at("2026-10-30T12:00:00"))  # exactly 90 days
    assert ("dormant-account", "", "carol") not in codes(on_the_day)
    a_day_later = review(ACCESS, snapshot([carol]), at("2026-10-31T12:00:00"))
    assert ("dormant-account", "", "carol") in codes(a_day_later)


def test_approval_is_valid_through_its_expiry_day():
    dan = XnatUser("dan", enabled=True, verified=True, last_login=at("2026-06-01T00:00:00"))
    state = snapshot([dan], {"dan": "member"})
    assert ("approval-expired", "CARDIO01", "dan") not in codes(
        review(ACCESS, state, at("2026-06-30T23:00:00"))
    )
    assert ("approval-expired", "CARDIO01", "dan") in codes(review(ACCESS, state, at("2026-07-01T00:30:00")))


def test_privileges_of_disabled_accounts_are_still_reported():
    old_admin = XnatUser(
        "old_admin", enabled=False, verified=True, last_login=None, roles=frozenset({"Administrator"})
    )
    findings = [
        f for f in review(ACCESS, snapshot([old_admin]), at("2026-11-20T12:00:00")) if f.user == "old_admin"
    ]
    assert [(f.code, f.severity) for f in findings] == [("admin-role-not-approved", "critical")]
    assert "(account disabled)" in findings[0].message


def test_login_times_in_epoch_ms_and_iso_agree():
    assert parse_login_time(1767225600000) == parse_login_time("2026-01-01T00:00:00Z")
    assert parse_login_time("1767225600000") == at("2026-01-01T00:00:00")
    assert parse_login_time(None) is None
    with pytest.raises(ValueError, match="unrecognised"):
        parse_login_time(["bad"])


def test_credentials_environment_wins_and_half_set_is_an_error(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine xnat.trust.nhs.uk login from_netrc password secret\n")
    netrc.chmod(0o600)
    env = {"NETRC": str(netrc)}
    assert find_credentials("https://xnat.trust.nhs.uk", env).user == "from_netrc"
    both = {**env, "XNAT_USER": "from_env", "XNAT_PASS": "pw"}
    found = find_credentials("https://xnat.trust.nhs.uk", both)
    assert (found.user, found.origin) == ("from_env", "environment (XNAT_USER/XNAT_PASS)")
    assert "pw" not in repr(found)
    with pytest.raises(CredentialsError, match="set both XNAT_USER and XNAT_PASS"):
        find_credentials("https://xnat.trust.nhs.uk", {**env, "XNAT_USER": "only_user"})


def test_csv_cells_cannot_become_spreadsheet_formulas():
    document = {
        "findings": [
            {
                "severity": "high",
                "code": "member-not-approved",
                "project": "P",
                "user": '=HYPERLINK("http://x")',
                "message": "m",
            }
        ]
    }
    assert "'=HYPERLINK" in render_csv(document)


@pytest.fixture
def xnat_without_rolemap(xnat_double) -> Iterator[str]:
    """The double behind a proxy that answers 404 for /xapi/users/rolemap, like an XNAT without it."""

    def application(environ, start_response):
        if environ["PATH_INFO"] == "/xapi/users/rolemap":
            return Response("Not Found", status=404)(environ, start_response)
        return xnat_double.app(environ, start_response)

    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join(timeout=5)


def test_roles_are_read_per_user_when_xnat_has_no_rolemap(xnat_double, xnat_without_rolemap):
    xnat_double.seed(SEED)
    state = read_xnat(xnat_without_rolemap, Credentials("svc_audit", "svc_audit-pw", "test"))
    assert state.rest_calls["GET /xapi/users/rolemap"] == 1
    assert state.rest_calls["GET /xapi/users/{username}/roles"] == len(state.users)
    assert state.users["mallory"].roles == {"Administrator"}
    assert state.users["ursula"].roles == {"non_expiring"}
    assert ("admin-role-not-approved", "", "mallory") in codes(
        review(ACCESS, state, at("2026-11-20T12:00:00"))
    )
