"""Authentication, the init check, sessions, the request log and xnatpy's login against the double."""

from __future__ import annotations

import pytest
import requests
import xnat

INITIALISED = {"site_config": {"initialized": True, "siteUrl": "https://xnat.example"}}


def test_anonymous_xapi_gets_basic_challenge_with_empty_body(xnat_double):
    response = requests.get(f"{xnat_double.url}/xapi/users", timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="XNAT"'
    assert response.text == ""


def test_anonymous_data_route_gets_basic_challenge(xnat_double):
    response = requests.get(f"{xnat_double.url}/data/projects?format=json", timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_build_info_is_open(xnat_double):
    response = requests.get(f"{xnat_double.url}/xapi/siteConfig/buildInfo", timeout=5)
    assert response.status_code == 200
    assert response.json()["version"].startswith("1.9")


def test_basic_auth_before_initialisation_is_refused_outside_init_urls(xnat_double):
    response = requests.get(f"{xnat_double.url}/data/projects", auth=("admin", "admin"), timeout=5)
    assert response.status_code == 403
    assert "Site has not yet been configured." in response.text
    init_url = requests.get(f"{xnat_double.url}/xapi/siteConfig", auth=("admin", "admin"), timeout=5)
    assert init_url.status_code == 200
    assert init_url.json()["initialized"] is False


def test_initialising_opens_the_site_to_basic_auth(xnat_double):
    url = xnat_double.url
    posted = requests.post(
        f"{url}/xapi/siteConfig",
        json={"initialized": True, "siteUrl": "https://x.example"},
        auth=("admin", "admin"),
        timeout=5,
    )
    assert posted.status_code == 200
    assert posted.text == ""
    listing = requests.get(f"{url}/data/projects?format=json", auth=("admin", "admin"), timeout=5)
    assert listing.status_code == 200
    assert listing.json() == {"ResultSet": {"Result": [], "totalRecords": "0", "title": "Projects"}}


def test_bad_password_gets_401_with_challenge(xnat_double):
    xnat_double.seed(INITIALISED)
    response = requests.get(f"{xnat_double.url}/xapi/users", auth=("admin", "wrong"), timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="XNAT"'


def test_disabled_user_cannot_log_in(xnat_double):
    xnat_double.seed({**INITIALISED, "users": [{"username": "dora", "password": "pw", "enabled": False}]})
    response = requests.get(f"{xnat_double.url}/data/auth", auth=("dora", "pw"), timeout=5)
    assert response.status_code == 401


def test_basic_login_sets_a_jsessionid_that_authenticates_later_requests(xnat_double):
    xnat_double.seed(INITIALISED)
    session = requests.Session()
    first = session.get(f"{xnat_double.url}/data/JSESSION", auth=("admin", "admin"), timeout=5)
    assert first.status_code == 200
    assert session.cookies.get("JSESSIONID") == first.text
    second = session.get(f"{xnat_double.url}/data/auth", timeout=5)
    assert second.text == "User 'admin' is logged in"
    session.delete(f"{xnat_double.url}/data/JSESSION", timeout=5)
    fresh = requests.get(f"{xnat_double.url}/data/auth", cookies={"JSESSIONID": first.text}, timeout=5)
    assert fresh.status_code == 401


def test_non_admin_write_is_forbidden(xnat_double):
    xnat_double.seed({**INITIALISED, "users": [{"username": "bob", "password": "pw", "email": "b@x"}]})
    response = requests.post(
        f"{xnat_double.url}/xapi/siteConfig", json={"siteId": "X"}, auth=("bob", "pw"), timeout=5
    )
    assert response.status_code == 403
    assert response.text == ""


def test_request_log_records_method_path_query_status_and_user(xnat_double):
    xnat_double.seed(INITIALISED)
    requests.get(f"{xnat_double.url}/data/projects?format=json", auth=("admin", "admin"), timeout=5)
    requests.put(f"{xnat_double.url}/xapi/users/nobody/enabled/true", auth=("admin", "admin"), timeout=5)
    log = requests.get(f"{xnat_double.url}/__double__/requests", timeout=5).json()
    assert log == [
        {
            "method": "GET",
            "path": "/data/projects",
            "query": {"format": "json"},
            "status": 200,
            "user": "admin",
        },
        {
            "method": "PUT",
            "path": "/xapi/users/nobody/enabled/true",
            "query": {},
            "status": 404,
            "user": "admin",
        },
    ]
    assert [entry["method"] for entry in xnat_double.writes()] == ["PUT"]
    assert requests.delete(f"{xnat_double.url}/__double__/requests", timeout=5).status_code == 204
    assert xnat_double.requests() == []


def test_control_seed_and_reset(xnat_double):
    seeded = requests.post(
        f"{xnat_double.url}/__double__/seed",
        json={**INITIALISED, "users": [{"username": "eve", "password": "pw"}]},
        timeout=5,
    )
    assert seeded.status_code == 204
    assert requests.get(f"{xnat_double.url}/data/auth", auth=("eve", "pw"), timeout=5).status_code == 200
    assert requests.post(f"{xnat_double.url}/__double__/reset", timeout=5).status_code == 204
    assert requests.get(f"{xnat_double.url}/data/auth", auth=("eve", "pw"), timeout=5).status_code == 403
    bad = requests.post(f"{xnat_double.url}/__double__/seed", json={"userz": []}, timeout=5)
    assert bad.status_code == 400
    assert "userz" in bad.text


def test_xnatpy_connects_and_lists_projects_and_users(xnat_double):
    xnat_double.seed(
        {
            **INITIALISED,
            "users": [
                {
                    "username": "alice",
                    "password": "pw",
                    "firstName": "A",
                    "lastName": "L",
                    "email": "a@x.nhs.uk",
                }
            ],
            "projects": [{"id": "CARDIO01", "name": "Cardio", "owners": ["alice"]}],
        }
    )
    with xnat.connect(xnat_double.url, user="admin", password="admin", no_parse_model=True) as session:
        assert session.logged_in_user == "admin"
        assert session.xnat_version == "1.9.2"
        projects = session.get_json("/data/projects")["ResultSet"]["Result"]
        assert [p["ID"] for p in projects] == ["CARDIO01"]
        assert sorted(session.users) == ["admin", "alice", "guest"]
        assert session.get_json("/xapi/users") == ["admin", "alice", "guest"]
    assert xnat_double.requests()[-1]["method"] == "DELETE"


def test_xnatpy_reports_bad_credentials(xnat_double):
    xnat_double.seed(INITIALISED)
    with pytest.raises(xnat.exceptions.XNATLoginFailedError, match="Login attempt failed"):
        xnat.connect(xnat_double.url, user="admin", password="nope", no_parse_model=True)


def test_repeated_failed_logins_lock_the_account(xnat_double):
    xnat_double.seed({"site_config": {"initialized": True, "maxFailedLogins": 3}})
    for _ in range(3):
        assert (
            requests.get(f"{xnat_double.url}/data/auth", auth=("admin", "bad"), timeout=5).status_code == 401
        )
    locked = requests.get(f"{xnat_double.url}/data/auth", auth=("admin", "admin"), timeout=5)
    assert locked.status_code == 401


def test_logged_in_session_is_sent_to_setup_until_initialised(xnat_double):
    session = requests.Session()
    token = session.put(
        f"{xnat_double.url}/data/services/auth", data={"username": "admin", "password": "admin"}, timeout=5
    ).text
    assert session.cookies.get("JSESSIONID") == token
    redirected = session.get(f"{xnat_double.url}/xapi/users", allow_redirects=False, timeout=5)
    assert redirected.status_code == 302
    assert redirected.headers["Location"] == f"{xnat_double.url}/setup"
    assert session.post(f"{xnat_double.url}/xapi/siteConfig", json={"initialized": True}, timeout=5).ok
    assert session.get(f"{xnat_double.url}/xapi/users", timeout=5).status_code == 200


def test_seed_project_groups_on_users_become_memberships(xnat_double):
    xnat_double.seed(
        {
            "users": [
                {"username": "dan", "password": "pw", "groups": ["ALL_DATA_ACCESS", "P9_collaborator"]}
            ],
            "projects": [{"id": "P9", "name": "Nine"}],
        }
    )
    assert xnat_double.state.users["dan"].all_groups() == ["ALL_DATA_ACCESS", "P9_collaborator"]
    assert xnat_double.state.projects["P9"].members["collaborator"] == {"dan"}
