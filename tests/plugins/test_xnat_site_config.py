"""xnat_site_config against the XNAT double, through ansible-playbook."""

from __future__ import annotations


def site_task(**args):
    return {"name": "site config", "xnat_enclave.xnat.xnat_site_config": args, "register": "out"}


def test_fresh_site_is_initialised_and_admin_password_changed(xnat_double, run_tasks):
    run = run_tasks(
        [
            site_task(
                bootstrap_password="admin",
                initialize=True,
                settings={"siteUrl": "http://xnat.test", "requireLogin": True},
            )
        ],
        password="Str0ng-admin",
        diff=True,
    )
    result = run.result()
    assert run.rc == 0, run.stdout
    assert result["changed"] is True
    assert result["admin_password_changed"] is True
    assert result["changed_settings"] == {"siteUrl": "http://xnat.test", "initialized": True}
    assert result["diff"]["before"]["initialized"] is False
    assert result["diff"]["after"] == {
        "initialized": True,
        "requireLogin": True,
        "siteUrl": "http://xnat.test",
    }
    state = xnat_double.state
    assert state.site_config["initialized"] is True
    assert state.site_config["siteUrl"] == "http://xnat.test"
    assert state.users["admin"].password == "Str0ng-admin"
    assert "Str0ng-admin" not in run.stdout + run.stderr


def test_second_run_sends_no_write(xnat_double, run_tasks):
    task = site_task(bootstrap_password="admin", initialize=True, settings={"siteUrl": "http://xnat.test"})
    assert run_tasks([task], password="Str0ng-admin").result()["changed"] is True
    xnat_double.clear_requests()
    again = run_tasks([task], password="Str0ng-admin").result()
    assert again["changed"] is False
    assert xnat_double.writes() == []


def test_check_mode_reports_change_and_sends_no_write(xnat_double, run_tasks):
    run = run_tasks(
        [site_task(bootstrap_password="admin", initialize=True, settings={"siteUrl": "http://xnat.test"})],
        password="Str0ng-admin",
        check=True,
    )
    assert run.result()["changed"] is True
    assert xnat_double.writes() == []
    assert xnat_double.state.site_config["initialized"] is False


def test_only_differing_keys_are_posted(initialised, run_tasks):
    run = run_tasks([site_task(settings={"siteUrl": "http://xnat.test", "requireLogin": False})])
    assert run.result()["changed_settings"] == {"requireLogin": False}
    posts = [r for r in initialised.writes() if r["path"] == "/xapi/siteConfig"]
    assert len(posts) == 1
    assert initialised.state.site_config["requireLogin"] is False


def test_unknown_key_fails_before_any_write(initialised, run_tasks):
    run = run_tasks([site_task(settings={"siteURL": "http://typo", "requireLogin": False})])
    result = run.result()
    assert result["failed"] is True
    assert "siteURL" in result["msg"]
    assert "does not know" in result["msg"]
    assert initialised.writes() == []


def test_wrong_password_without_bootstrap_names_url_and_status_not_password(initialised, run_tasks):
    run = run_tasks([site_task(settings={})], password="not-the-Password-42")
    result = run.result()
    assert result["failed"] is True
    assert f"GET {initialised.url}/xapi/siteConfig" in result["msg"]
    assert "HTTP 401" in result["msg"]
    assert "not-the-Password-42" not in run.stdout + run.stderr


def test_a_null_setting_fails_before_any_request(initialised, run_tasks):
    """XNAT 1.8/1.9 answer a JSON null with 500 after setting the keys before it (fidelity row 12)."""
    result = run_tasks([site_task(settings={"siteId": "TRUST_A", "siteDescription": None})]).result()
    assert result["failed"] is True
    assert "siteDescription" in result["msg"] and "HTTP 500" in result["msg"]
    assert initialised.requests() == []
    assert initialised.state.site_config["siteId"] != "TRUST_A"
