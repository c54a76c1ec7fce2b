"""siteConfig: visibility per user, typed values, unknown keys, initialisation order."""

from __future__ import annotations

import pytest
import requests


def test_admin_sees_every_default_key(admin):
    config = admin("GET", "/xapi/siteConfig").json()
    assert {"siteId", "siteUrl", "initialized", "requireLogin", "sitewideAnonymizationScript"} <= set(config)
    assert len(config) > 40


def test_non_admin_sees_only_public_and_authenticated_keys(as_user):
    config = as_user("carol")("GET", "/xapi/siteConfig").json()
    assert "siteId" in config
    assert "enableSitewideAnonymizationScript" in config
    assert "archivePath" not in config
    assert as_user("carol")("GET", "/xapi/siteConfig/archivePath").status_code == 403


def test_form_values_keep_the_declared_type(admin):
    assert admin("POST", "/xapi/siteConfig", data={"requireLogin": "false", "concurrentMaxSessions": "7"}).ok
    config = admin("GET", "/xapi/siteConfig").json()
    assert config["requireLogin"] is False
    assert config["concurrentMaxSessions"] == 7


def test_unknown_key_is_accepted_and_then_listed_like_xnat(admin):
    assert "siteTitel" not in admin("GET", "/xapi/siteConfig").json()
    response = admin("POST", "/xapi/siteConfig", json={"siteTitel": "typo"})
    assert response.status_code == 200
    assert admin("GET", "/xapi/siteConfig/siteTitel").json() == "typo"


def test_single_property_routes(admin):
    assert admin("GET", "/xapi/siteConfig/siteId").json() == "XNAT"
    missing = admin("GET", "/xapi/siteConfig/noSuchKey")
    assert missing.status_code == 404
    assert "No site configuration property named noSuchKey" in missing.text
    assert admin("POST", "/xapi/siteConfig/siteId", data="TRUST_A", headers={"Content-Type": "text/plain"}).ok
    assert admin("GET", "/xapi/siteConfig/values/siteId,requireLogin").json() == {
        "siteId": "TRUST_A",
        "requireLogin": True,
    }


def test_guest_is_used_for_anonymous_requests_only_when_login_is_not_required(site, admin):
    anonymous = requests_get(site.url + "/data/auth")
    assert anonymous.status_code == 401
    admin("POST", "/xapi/siteConfig", json={"requireLogin": False})
    assert requests_get(site.url + "/data/auth").text == "User 'guest' is logged in"
    assert requests_get(site.url + "/xapi/users/username").status_code == 401


def requests_get(url):
    return requests.get(url, timeout=5)


def test_before_initialisation_admin_get_fills_site_url_and_admin_email_updates_accounts(xnat_double):
    admin = ("admin", "admin")
    config = requests.get(f"{xnat_double.url}/xapi/siteConfig", auth=admin, timeout=5).json()
    assert config["siteUrl"] == xnat_double.url
    assert config["initialized"] is False
    assert config["sitewidePetTracers"] == ""  # unset preferences read as ""
    requests.post(
        f"{xnat_double.url}/xapi/siteConfig", json={"adminEmail": "xnat@trust.nhs.uk"}, auth=admin, timeout=5
    )
    assert xnat_double.state.users["admin"].email == "xnat@trust.nhs.uk"


def test_single_property_body_is_a_raw_string(admin):
    assert admin("POST", "/xapi/siteConfig/siteId", json="QUOTED").status_code == 200
    assert admin("GET", "/xapi/siteConfig/siteId").json() == '"QUOTED"'
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert admin("POST", "/xapi/siteConfig/siteId", data="X", headers=form).status_code == 415


@pytest.mark.parametrize("version", ["1.8", "1.9"])
def test_a_json_null_is_a_500_on_1_8_and_1_9_after_the_keys_before_it(site, admin, version):
    """Fidelity row 12: SiteConfigApi.setSiteConfigProperties calls value.getClass() on a null."""
    site.seed({"double": {"xnat_version": version}})
    assert admin("GET", "/xapi/siteConfig/buildInfo").json()["version"].startswith(version + ".")
    response = admin("POST", "/xapi/siteConfig", json={"siteId": "FIRST", "siteDescription": None})
    assert response.status_code == 500
    assert admin("GET", "/xapi/siteConfig/siteId").json() == "FIRST", "keys before the null were set"


def test_a_json_null_leaves_the_key_alone_on_1_10(site, admin):
    site.seed({"double": {"xnat_version": "1.10"}})
    response = admin("POST", "/xapi/siteConfig", json={"siteId": "TEN", "siteDescription": None})
    assert response.status_code == 200
    assert admin("GET", "/xapi/siteConfig/siteId").json() == "TEN"


def test_the_double_imitates_1_9_unless_told(site, admin):
    assert site.state.options.xnat_version == "1.9"
    assert admin("POST", "/xapi/siteConfig", json={"siteDescription": None}).status_code == 500
