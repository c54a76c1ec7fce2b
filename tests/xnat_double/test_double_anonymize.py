"""Anonymisation: the enable flag is the query parameter only; 204 for a project without a script."""

from __future__ import annotations

SCRIPT = 'version "6.3"\n(0010,0010) := "anon"\n'


def test_site_script_round_trip_and_shared_with_site_config(admin):
    assert admin("PUT", "/xapi/anonymize/site", data=SCRIPT, headers={"Content-Type": "text/plain"}).ok
    assert admin("GET", "/xapi/anonymize/site").text == SCRIPT
    assert admin("GET", "/xapi/siteConfig/sitewideAnonymizationScript").json() == SCRIPT


def test_site_enable_reads_only_the_query_parameter(admin):
    assert admin("GET", "/xapi/anonymize/site/enabled").json() is True  # XNAT's default
    assert admin("PUT", "/xapi/anonymize/site/enabled?enable=false", json=True).ok
    assert admin("GET", "/xapi/anonymize/site/enabled").json() is False
    # A body of "false" without the query parameter still enables, as in XNAT.
    assert admin("PUT", "/xapi/anonymize/site/enabled", json=False).ok
    assert admin("GET", "/xapi/anonymize/site/enabled").json() is True
    assert admin("PUT", "/xapi/anonymize/site/enabled?enable=perhaps").status_code == 400


def test_project_script_204_then_text(admin):
    empty = admin("GET", "/xapi/anonymize/projects/CARDIO01")
    assert empty.status_code == 204
    assert empty.text == ""
    assert admin("GET", "/xapi/anonymize/projects/NOPE").status_code == 404
    assert admin(
        "PUT", "/xapi/anonymize/projects/CARDIO01", data=SCRIPT, headers={"Content-Type": "text/plain"}
    ).ok
    assert admin("GET", "/xapi/anonymize/projects/CARDIO01").text == SCRIPT
    assert admin("PUT", "/xapi/anonymize/projects/CARDIO01/enabled").ok
    assert admin("GET", "/xapi/anonymize/projects/CARDIO01/enabled").json() is True


def test_project_script_needs_owner(as_user):
    assert as_user("bob")("GET", "/xapi/anonymize/projects/CARDIO01").status_code == 204
    assert as_user("bob")("PUT", "/xapi/anonymize/projects/CARDIO01", data=SCRIPT).status_code == 403
    assert as_user("alice")("PUT", "/xapi/anonymize/projects/CARDIO01", data=SCRIPT).status_code == 200
    assert as_user("carol")("GET", "/xapi/anonymize/projects/CARDIO01").status_code == 403
    assert as_user("carol")("PUT", "/xapi/anonymize/site", data=SCRIPT).status_code == 403


def test_legacy_config_routes(admin):
    assert admin("PUT", "/data/config/edit/projects/CARDIO01/image/dicom/script", data=SCRIPT).ok
    rows = admin("GET", "/data/config/edit/projects/CARDIO01/image/dicom/script?format=json").json()
    assert rows["ResultSet"]["Result"][0]["script"] == SCRIPT
    assert admin("PUT", "/data/config/edit/projects/CARDIO01/image/dicom/status").status_code == 400
    assert admin("PUT", "/data/config/edit/projects/CARDIO01/image/dicom/status?activate=true").ok
    assert admin("GET", "/xapi/anonymize/projects/CARDIO01/enabled").json() is True
    assert admin("GET", "/data/config/edit/projects/NOPE/image/dicom/script").status_code == 400


def test_wrong_content_type_is_415(admin):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert admin("PUT", "/xapi/anonymize/site", data=SCRIPT, headers=form).status_code == 415
    assert admin("PUT", "/xapi/anonymize/site/enabled?enable=true", data="x", headers=form).status_code == 415
    assert admin("PUT", "/xapi/anonymize/projects/CARDIO01", json=SCRIPT).status_code == 415
