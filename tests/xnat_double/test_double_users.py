"""Users through /xapi/users: create, update (304), flags, roles, groups, access."""

from __future__ import annotations

import requests


def test_profiles_list_users_with_epoch_ms_dates(site, admin):
    site.seed({"users": [{"username": "alice", "lastSuccessfulLogin": "2026-01-31T10:00:00Z"}]})
    profiles = {p["username"]: p for p in admin("GET", "/xapi/users/profiles").json()}
    assert profiles["alice"]["lastSuccessfulLogin"] == 1769853600000
    assert "lastSuccessfulLogin" not in admin("GET", "/xapi/users/alice").json()
    assert admin("GET", "/xapi/users/profile/nobody").status_code == 404


def test_user_lists_follow_restrict_user_list_access_to_admins(site, admin, as_user):
    carol = as_user("carol")
    assert "alice" in carol("GET", "/xapi/users").json()  # open to authenticated users by default
    assert carol("GET", "/xapi/users/username").text == "carol"
    assert carol("GET", "/xapi/users/profile").json()["username"] == "carol"
    admin("POST", "/xapi/siteConfig", json={"restrictUserListAccessToAdmins": True})
    assert carol("GET", "/xapi/users").status_code == 403
    assert carol("GET", "/xapi/users/profile/alice").status_code == 403
    assert carol("GET", "/xapi/users/profile/carol").status_code == 200
    assert carol("GET", "/data/users?format=json").status_code == 403
    assert requests.get(site.url + "/xapi/users", timeout=5).status_code == 401


def test_create_user_returns_201_and_conflict_409(admin):
    body = {"username": "dave", "password": "pw", "firstName": "D", "lastName": "V", "email": "d@x.uk"}
    created = admin("POST", "/xapi/users", json=body)
    assert created.status_code == 201
    assert created.json()["username"] == "dave"
    assert admin("POST", "/xapi/users", json=body).status_code == 409
    missing = admin("POST", "/xapi/users", json={"username": "eve"})
    assert missing.status_code == 400
    assert "email" in missing.text


def test_update_user_returns_304_when_nothing_changes(admin):
    assert (
        admin("PUT", "/xapi/users/alice", json={"firstName": "Alice", "email": "a@x.uk"}).status_code == 304
    )
    changed = admin("PUT", "/xapi/users/alice", json={"firstName": "Alicia"})
    assert changed.status_code == 200
    assert changed.json()["firstName"] == "Alicia"
    assert admin("PUT", "/xapi/users/alice", json={"password": "new"}).status_code == 200


def test_enabled_and_verified_flags(site, admin):
    assert admin("PUT", "/xapi/users/alice/enabled/false").status_code == 200
    assert admin("GET", "/xapi/users/alice/enabled").json() is False
    assert admin("PUT", "/xapi/users/alice/verified/maybe").status_code == 400
    assert requests.get(site.url + "/data/auth", auth=("alice", "pw"), timeout=5).status_code == 401


def test_roles_and_groups(admin, as_user):
    assert admin("PUT", "/xapi/users/carol/roles", json=["Dqr", "ContainerManager"]).json() == []
    assert admin("PUT", "/xapi/users/carol/roles/Administrator").ok
    assert admin("GET", "/xapi/users/carol/roles").json() == ["Administrator", "ContainerManager", "Dqr"]
    assert admin("DELETE", "/xapi/users/carol/roles/Administrator").ok
    failed = admin(
        "PUT", "/xapi/users/carol/groups", json=["ALL_DATA_ADMIN", "CARDIO01_member", "NOPE_owner"]
    )
    assert failed.status_code == 202
    assert failed.json() == ["NOPE_owner"]
    assert admin("GET", "/xapi/users/carol/groups").json() == ["ALL_DATA_ADMIN", "CARDIO01_member"]
    assert admin("GET", "/xapi/users/alice/groups").json() == ["CARDIO01_owner"]
    assert as_user("carol")("PUT", "/xapi/users/bob/roles/Administrator").status_code == 403


def test_restlet_user_list_has_enabled_users_only_with_string_cells(admin):
    admin("PUT", "/xapi/users/bob/enabled/false")
    rows = admin("GET", "/data/users?format=json").json()["ResultSet"]
    assert rows["totalRecords"] == str(len(rows["Result"]))
    assert {"admin", "guest", "alice", "carol"} == {row["login"] for row in rows["Result"]}
    assert all(isinstance(value, str) for row in rows["Result"] for value in row.values())


def test_user_fields_and_password_complexity_are_validated(admin):
    body = {"username": "1bad", "password": "pw", "firstName": "D", "lastName": "V", "email": "d@x.uk"}
    refused = admin("POST", "/xapi/users", json=body)
    assert refused.status_code == 400
    assert "username" in refused.text
    assert (
        admin("POST", "/xapi/users", json={**body, "username": "ok", "email": "not-an-email"}).status_code
        == 400
    )
    admin(
        "POST",
        "/xapi/siteConfig",
        json={"passwordComplexity": "^.{12,}$", "passwordComplexityMessage": "12+"},
    )
    weak = admin("PUT", "/xapi/users/alice", json={"password": "short"})
    assert (weak.status_code, weak.text) == (400, "12+")
    assert admin("PUT", "/xapi/users/alice", json={"username": "bob"}).status_code == 400


def test_role_map_and_active_sessions(admin, as_user):
    admin("PUT", "/xapi/users/carol/roles", json=["Dqr"])
    assert admin("GET", "/xapi/users/rolemap").json() == {"Administrator": ["admin"], "Dqr": ["carol"]}
    assert admin("GET", "/xapi/users/roles/Dqr").json() == ["carol"]
    assert as_user("carol")("GET", "/xapi/users/rolemap").status_code == 403
    assert "admin" in admin("GET", "/xapi/users/active").json()


def test_xapi_leaves_null_properties_out(admin):
    """Fidelity row 7: XNAT's ObjectMapper is NON_NULL: a secured user has no password or salt key."""
    profile = admin("GET", "/xapi/users/profile/carol").json()
    assert {"password", "salt", "authorization", "pendingEmail", "currentPassword"}.isdisjoint(profile)
    assert "lastSuccessfulLogin" not in profile, "never logged in: null, so absent"
    assert profile["secured"] is True and profile["username"] == "carol"
    receiver = admin("GET", "/xapi/dicomscp").json()[0]
    assert "fileNamer" not in receiver and receiver["aeTitle"] == "XNAT"
