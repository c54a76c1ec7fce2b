"""Projects through /data/projects: create, list, accessibility, prearchive code, membership."""

from __future__ import annotations

import requests


def test_create_project_with_query_fields(admin):
    created = admin(
        "PUT",
        "/data/projects/NEURO02",
        params={"name": "Neuro", "description": "d", "accessibility": "private"},
    )
    assert created.status_code == 200
    assert created.text == ""
    item = admin("GET", "/data/projects/NEURO02?format=json").json()["items"][0]["data_fields"]
    assert item["name"] == "Neuro"
    assert admin("GET", "/data/projects/NEURO02/accessibility").text == "private"
    owners = admin("GET", "/data/projects/NEURO02/users?format=json").json()["ResultSet"]["Result"]
    assert [(row["login"], row["displayname"]) for row in owners] == [("admin", "Owners")]


def test_create_defaults_to_protected_and_rejects_bad_ids_and_names(admin, as_user):
    assert admin("PUT", "/data/projects/P3").ok
    assert admin("GET", "/data/projects/P3/accessibility").text == "protected"
    assert admin("PUT", "/data/projects/bad%20id").status_code == 417
    assert admin("PUT", "/data/projects/P4", params={"name": "cardio"}).status_code == 409
    admin("POST", "/xapi/siteConfig", json={"uiAllowNonAdminProjectCreation": False})
    assert as_user("carol")("PUT", "/data/projects/P5").status_code == 403


def test_list_shows_totalrecords_as_string_and_only_visible_projects(admin, as_user):
    admin("PUT", "/data/projects/OPEN1", params={"accessibility": "public"})
    admin("PUT", "/data/projects/LISTED1", params={"accessibility": "protected"})
    admin("PUT", "/data/projects/HIDDEN1", params={"accessibility": "private"})
    everything = admin("GET", "/data/projects?format=json").json()["ResultSet"]
    assert everything["totalRecords"] == "4"
    carol = as_user("carol")("GET", "/data/projects?format=json").json()["ResultSet"]["Result"]
    assert sorted(row["ID"] for row in carol) == ["LISTED1", "OPEN1"]
    assert as_user("carol")("GET", "/data/projects/HIDDEN1?format=json").status_code == 404
    assert as_user("carol")("GET", "/xapi/anonymize/projects/LISTED1").status_code == 403  # no data access
    mine = as_user("bob")("GET", "/data/projects", params={"format": "json", "member": "true"}).json()
    assert [row["ID"] for row in mine["ResultSet"]["Result"]] == ["CARDIO01"]


def test_membership_moves_users_between_groups(admin):
    assert admin("PUT", "/data/projects/CARDIO01/users/Owners/bob").ok
    rows = admin("GET", "/data/projects/CARDIO01/users?format=json").json()["ResultSet"]["Result"]
    assert sorted((row["login"], row["GROUP_ID"]) for row in rows) == [
        ("alice", "CARDIO01_owner"),
        ("bob", "CARDIO01_owner"),
    ]
    assert admin("DELETE", "/data/projects/CARDIO01/users/CARDIO01_owner/bob").ok
    assert admin("GET", "/xapi/users/bob/groups").json() == []
    assert admin("PUT", "/data/projects/CARDIO01/users/Readers/carol").status_code == 404
    assert admin("PUT", "/data/projects/CARDIO01/users/collaborator/carol").ok
    assert admin("GET", "/xapi/users/carol/groups").json() == ["CARDIO01_collaborator"]


def test_member_put_and_delete_answer_json_whatever_the_accept_header(site):
    """Fidelity row 8: ProjectMemberResource answers with its first variant, JSON (xnatpy needs it)."""
    html_client = requests.Session()
    html_client.auth = ("admin", "admin")
    html_client.headers["Accept"] = "text/html"
    for method in ("PUT", "DELETE"):
        answer = html_client.request(
            method, f"{site.url}/data/projects/CARDIO01/users/Members/carol", timeout=5
        )
        assert answer.headers["Content-Type"].startswith("application/json"), method
        assert "ResultSet" in answer.json()
    as_html = html_client.put(f"{site.url}/data/projects/CARDIO01/users/Members/carol?format=html", timeout=5)
    assert as_html.headers["Content-Type"].startswith("text/html")
    listing = html_client.get(f"{site.url}/data/projects/CARDIO01/users", timeout=5)
    assert listing.headers["Content-Type"].startswith("text/html"), "a GET is still negotiated"


def test_member_ids_split_on_spaced_commas_and_resolve_by_id_login_then_email(site, admin):
    """Fidelity row 10: USER_ID is split on \\s+,\\s+; ids are xdat_user_id, then login, then e-mail."""

    def groups(username):
        return admin("GET", f"/xapi/users/{username}/groups").json()

    assert admin("PUT", "/data/projects/CARDIO01/users/collaborator/carol,bob").ok
    assert groups("carol") == [], '"carol,bob" is one unknown id'
    assert admin("PUT", "/data/projects/CARDIO01/users/collaborator/carol%20,%20bob").ok
    assert groups("carol") == groups("bob") == ["CARDIO01_collaborator"]
    carol_id = site.state.users["carol"].id
    assert admin("DELETE", f"/data/projects/CARDIO01/users/collaborator/{carol_id}").ok
    assert groups("carol") == []
    assert admin("PUT", "/data/projects/CARDIO01/users/Members/c@x.uk").ok
    assert groups("carol") == ["CARDIO01_member"]


def test_only_owners_manage_members_accessibility_and_prearchive_code(as_user):
    bob, alice = as_user("bob"), as_user("alice")
    assert bob("PUT", "/data/projects/CARDIO01/users/Members/carol").status_code == 403
    assert alice("PUT", "/data/projects/CARDIO01/users/Members/carol").status_code == 200
    assert bob("PUT", "/data/projects/CARDIO01/accessibility/public").status_code == 403
    assert alice("PUT", "/data/projects/CARDIO01/accessibility/public").status_code == 200
    assert alice("PUT", "/data/projects/CARDIO01/prearchive_code/4").status_code == 200
    assert alice("GET", "/data/projects/CARDIO01/prearchive_code").text == "4"
    assert alice("PUT", "/data/projects/CARDIO01/prearchive_code/3").status_code == 400


def test_non_private_projects_can_be_forbidden(admin):
    admin("POST", "/xapi/siteConfig", json={"securityAllowNonPrivateProjects": False})
    assert admin("PUT", "/data/projects/CARDIO01/accessibility/public").status_code == 403


def test_delete_project_removes_memberships(admin):
    assert admin("DELETE", "/data/projects/CARDIO01").ok
    assert admin("GET", "/data/projects/CARDIO01?format=json").status_code == 404
    assert admin("GET", "/xapi/users/alice/groups").json() == []


def test_deleted_project_ids_cannot_be_reused(admin):
    assert admin("DELETE", "/data/projects/CARDIO01").ok
    reused = admin("PUT", "/data/projects/CARDIO01")
    assert reused.status_code == 403
    assert "previously deleted project" in reused.text


def test_member_list_hides_disabled_accounts_unless_asked(admin):
    admin("PUT", "/xapi/users/bob/enabled/false")
    visible = admin("GET", "/data/projects/CARDIO01/users?format=json").json()["ResultSet"]["Result"]
    assert [row["login"] for row in visible] == ["alice"]
    everyone = admin("GET", "/data/projects/CARDIO01/users/true?format=json").json()["ResultSet"]["Result"]
    assert [(row["login"], row["displayname"]) for row in everyone] == [
        ("alice", "Owners"),
        ("bob", "Members"),
    ]
    with_admins = admin(
        "GET", "/data/projects/CARDIO01/users", params={"format": "json", "includeAllDataAccess": "true"}
    )
    assert "ALL_DATA_ADMIN" in {row["GROUP_ID"] for row in with_admins.json()["ResultSet"]["Result"]}
