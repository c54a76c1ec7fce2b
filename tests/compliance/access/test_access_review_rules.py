"""Rules of the review that the double scenario does not pin down: boundaries, and XNAT without rolemap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from access_review_seeds import ACCESS_LIST, SEED
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from compliance.access.accesslist import parse_access_list
from compliance.access.reports import render_csv
from compliance.access.review import review
from compliance.access.xnat_reader import XnatProject, XnatSnapshot, XnatUser, parse_xnat_time, read_xnat
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
    assert findings[0].message == (
        "disabled account still holds Administrator (site administration) and is not in the access list's "
        "admins; re-enabling it would restore the privilege: remove it"
    )


def test_login_times_in_epoch_ms_and_iso_agree():
    assert parse_xnat_time(1767225600000) == parse_xnat_time("2026-01-01T00:00:00Z")
    assert parse_xnat_time("1767225600000") == at("2026-01-01T00:00:00")
    assert parse_xnat_time(None) is None
    with pytest.raises(ValueError, match="unrecognised"):
        parse_xnat_time(["bad"])


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


def project_snapshot(project_id: str, members: dict[str, str], users: list[XnatUser]) -> XnatSnapshot:
    project = XnatProject(project_id, project_id, "private", members)
    return XnatSnapshot("http://xnat", {user.username: user for user in users}, {project_id: project})


def test_a_project_and_its_members_are_approved_through_the_end_date_itself():
    bob = XnatUser("bob", enabled=True, verified=True, last_login=at("2027-03-30T09:00:00"))
    state = project_snapshot("CARDIO01", {"bob": "owner"}, [bob])
    on_the_day = codes(review(ACCESS, state, at("2027-03-31T23:00:00")))  # CARDIO01 ends 2027-03-31
    assert {(code, user) for code, project, user in on_the_day if project == "CARDIO01"} == {
        ("approved-user-missing", "carol"),  # approved on CARDIO01 but not in this snapshot's XNAT
        ("approved-user-missing", "dan"),
        ("approved-user-missing", "frank"),
    }
    the_day_after = codes(review(ACCESS, state, at("2027-04-01T00:30:00")))
    assert ("project-past-end-date", "CARDIO01", "") in the_day_after
    assert ("member-after-project-end", "CARDIO01", "bob") in the_day_after
    assert ("approval-expired", "CARDIO01", "bob") not in the_day_after  # the project's end says it all


def test_an_enabled_unapproved_administrator_is_told_apart_from_a_disabled_one():
    mallory = XnatUser(
        "mallory",
        enabled=True,
        verified=True,
        last_login=at("2026-11-19T08:00:00"),
        roles=frozenset({"Administrator"}),
        groups=frozenset({"ALL_DATA_ACCESS"}),
    )
    findings = [
        f for f in review(ACCESS, snapshot([mallory]), at("2026-11-20T12:00:00")) if f.user == "mallory"
    ]
    assert [(f.code, f.severity, f.message) for f in findings] == [
        (
            "admin-role-not-approved",
            "critical",
            "enabled account holds Administrator (site administration) but is not in the access list's "
            "admins; remove the privilege or add the account to admins",
        ),
        (
            "all-data-access-not-approved",
            "high",
            "enabled account holds ALL_DATA_ACCESS (read access to every project) but is not in the access "
            "list's admins; remove the privilege or add the account to admins",
        ),
    ]


def default_admin(enabled: bool) -> XnatUser:
    """XNAT's built-in admin as a fresh XNAT has it: Administrator and ALL_DATA_ADMIN."""
    return XnatUser(
        "admin",
        enabled=enabled,
        verified=True,
        last_login=at("2026-11-20T09:00:00"),
        roles=frozenset({"Administrator"}),
        groups=frozenset({"ALL_DATA_ADMIN"}),
    )


def test_the_enabled_default_admin_is_one_finding_that_says_what_it_holds():
    findings = [
        f
        for f in review(ACCESS, snapshot([default_admin(True)]), at("2026-11-20T12:00:00"))
        if f.user == "admin"
    ]
    assert [(f.code, f.severity, f.user) for f in findings] == [
        ("default-admin-enabled", "critical", "admin")
    ]
    assert findings[0].message == (
        "the default 'admin' account is enabled and holds Administrator (site administration), "
        "ALL_DATA_ADMIN (edit and delete rights on every project); it is not in the access list's admins. "
        "Disable it (the configure layer does so with xnat_config_disable_default_admin: true once the "
        "service account works) and use named administrator accounts"
    )


def test_the_default_admin_disabled_by_the_configure_layer_is_no_finding():
    findings = review(ACCESS, snapshot([default_admin(False)]), at("2026-11-20T12:00:00"))
    assert [f for f in findings if f.user == "admin"] == []


def test_an_approved_but_enabled_default_admin_is_still_reported_as_high():
    approved = parse_access_list(
        ACCESS_LIST.replace("admins: [svc_audit,", "admins: [admin, svc_audit,"), "t.yml"
    )
    [finding] = [
        f
        for f in review(approved, snapshot([default_admin(True)]), at("2026-11-20T12:00:00"))
        if f.user == "admin"
    ]
    assert (finding.code, finding.severity) == ("default-admin-enabled", "high")
    assert (
        "it is listed in the access list's admins, but a shared, well-known account is not a named one"
        in (finding.message)
    )


def never_logged_in(last_modified: str | None) -> XnatUser:
    changed = at(last_modified) if last_modified else None
    return XnatUser("nina", enabled=True, verified=True, last_login=None, last_modified=changed)


@pytest.mark.parametrize(
    ("last_modified", "dormant"),
    [
        ("2026-11-20T11:55:00", False),  # created five minutes before the review
        ("2026-08-22T12:00:00", False),  # exactly 90 days
        ("2026-08-22T11:00:00", True),  # 90 days and an hour
    ],
)
def test_an_account_that_never_logged_in_is_dormant_only_90_days_after_its_creation(last_modified, dormant):
    findings = review(ACCESS, snapshot([never_logged_in(last_modified)]), at("2026-11-20T12:00:00"))
    assert (("dormant-account", "", "nina") in codes(findings)) is dormant


def test_dormancy_without_any_date_from_xnat_is_reported_and_says_so():
    [finding] = [
        f
        for f in review(ACCESS, snapshot([never_logged_in(None)]), at("2026-11-20T12:00:00"))
        if f.user == "nina"
    ]
    assert finding.code == "dormant-account"
    assert (
        "never logged in, and XNAT gives no date for the account's creation or last change" in finding.message
    )


def test_a_disabled_account_is_never_dormant():
    old = XnatUser(
        "nina", enabled=False, verified=True, last_login=None, last_modified=at("2020-01-01T00:00:00")
    )
    assert [f for f in review(ACCESS, snapshot([old]), at("2026-11-20T12:00:00")) if f.user == "nina"] == []


def test_accounts_created_minutes_ago_in_xnat_are_not_dormant(xnat_double):
    """Configure creates accounts; a review minutes later (no --as-of) must not call them dormant."""
    xnat_double.seed(
        {
            "site_config": {"initialized": True},
            "users": [
                {"username": "svc_audit", "password": "svc_audit-pw", "roles": ["Administrator"]},
                {"username": "bob", "password": "bob-pw"},
                {"username": "carol", "password": "carol-pw"},
            ],
        }
    )
    state = read_xnat(xnat_double.url, Credentials("svc_audit", "svc_audit-pw", "test"))
    assert state.users["bob"].last_login is None
    assert datetime.now(tz=UTC) - state.users["bob"].last_modified < timedelta(minutes=5)
    dormant = {f.user for f in review(ACCESS, state, datetime.now(tz=UTC)) if f.code == "dormant-account"}
    assert dormant == set()


def test_an_ended_project_that_still_holds_data_is_critical_and_an_emptied_one_is_clean():
    after_the_end = at("2027-04-01T00:30:00")  # CARDIO01 ends 2027-03-31
    holding = XnatSnapshot(
        "http://xnat", {}, {"CARDIO01": XnatProject("CARDIO01", "Cardio", "private", {}, sessions=3)}
    )
    [finding] = [f for f in review(ACCESS, holding, after_the_end) if f.code == "project-past-end-date"]
    assert finding.severity == "critical"
    assert "still holds 3 sessions and 0 members" in finding.message
    assert "enclave project close" in finding.message
    emptied = XnatSnapshot("http://xnat", {}, {"CARDIO01": XnatProject("CARDIO01", "Cardio", "private", {})})
    assert not [f for f in review(ACCESS, emptied, after_the_end) if f.project == "CARDIO01" and not f.user]


def test_a_project_marked_closed_before_its_end_date_is_closed():
    document = yaml.safe_load(ACCESS_LIST)
    document["projects"]["CARDIO01"]["closed"] = True
    closed_list = yaml.safe_dump(document)
    access = parse_access_list(closed_list, "trust_test.yml")
    bob = XnatUser("bob", enabled=True, verified=True, last_login=at("2026-11-01T09:00:00"))
    state = project_snapshot("CARDIO01", {"bob": "owner"}, [bob])
    found = {f.code: f for f in review(access, state, at("2026-11-20T12:00:00")) if f.project == "CARDIO01"}
    assert found["project-past-end-date"].severity == "critical"
    assert "is marked closed" in found["project-past-end-date"].message
    assert "is marked closed" in found["member-after-project-end"].message
