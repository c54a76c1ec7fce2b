"""The write funnel of XnatAPI: every write is listed; in check mode none is sent."""

from __future__ import annotations

from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_client import XnatClient
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_resources import XnatAPI, describe


def api_for(double, check_mode):
    double.seed({"site_config": {"initialized": True}, "projects": [{"id": "P1", "name": "P1"}]})
    double.clear_requests()
    return XnatAPI(XnatClient(double.url, "admin", "admin", retry_timeout=1), check_mode=check_mode)


def test_check_mode_lists_the_writes_and_sends_none(xnat_double):
    api = api_for(xnat_double, check_mode=True)
    assert api.set_project_accessibility("P1", "public") is None
    assert api.add_project_member("P1", "Owners", "admin") is None
    assert api.actions == [
        "PUT /data/projects/P1/accessibility/public",
        "PUT /data/projects/P1/users/Owners/admin?sendemail=false",
    ]
    assert api.get_project_accessibility("P1") == "private", "reads still go to XNAT; nothing was written"
    assert xnat_double.writes() == []


def test_a_real_run_sends_what_it_lists(xnat_double):
    api = api_for(xnat_double, check_mode=False)
    api.set_project_accessibility("P1", "public")
    api.set_project_prearchive_code("P1", 4)
    assert [f"{w['method']} {w['path']}" for w in xnat_double.writes()] == api.actions
    assert api.get_project_accessibility("P1") == "public"
    assert api.get_project_prearchive_code("P1") == 4


def test_describe_renders_query_values_as_xnat_reads_them():
    assert describe("PUT", "/xapi/anonymize/site/enabled", {"enable": False}) == (
        "PUT /xapi/anonymize/site/enabled?enable=false"
    )
    assert describe("POST", "/xapi/commands", {"image": None}) == "POST /xapi/commands"
