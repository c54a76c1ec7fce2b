"""`enclave project close` switches off what runs on the project's events: its own event subscriptions are
deactivated (not deleted) and its container wrappers disabled, before any delete; other projects' and
site-wide subscriptions are left alone; the record lists what was switched off."""

from __future__ import annotations

import json

import pytest
from close_helpers import (
    OTHER,
    PAYLOAD_FILTER,
    PROJECT,
    SCAN_EVENT,
    SESSION_EVENT,
    access_list_text,
    add_processing,
    data_writes,
    records,
    run,
    seed_project,
)

from compliance.projects.xnat_io import CloseClient
from compliance.xnat import routes

PAST = "2024-01-01"
ACTION = "org.nrg.containers.services.CommandActionProvider:{}"


@pytest.fixture
def double(xnat_double, monkeypatch):
    monkeypatch.setenv("XNAT_USER", "admin")
    monkeypatch.setenv("XNAT_PASS", "admin")
    return seed_project(xnat_double)


def active(double) -> dict[str, bool]:
    return {entry["name"]: entry["active"] for entry in double.state.subscriptions.values()}


def project_flag(double, wrapper_id: int, project: str) -> bool:
    return double.state.wrapper_project_enabled.get((wrapper_id, project), False)


@pytest.mark.parametrize("operator", ["admin", "alice"])  # an Administrator, or the project's owner
def test_close_deactivates_the_projects_subscriptions_and_leaves_the_others(
    double, tmp_path, capsys, monkeypatch, operator
):
    if operator == "alice":
        monkeypatch.setenv("XNAT_USER", "alice")
        monkeypatch.setenv("XNAT_PASS", "pw")
    ids = add_processing(double)
    # 1 for the owner: not a DQR user with all-data access, the DQR history is unchecked (a finding).
    assert run(double, tmp_path, access_list_text(end_date=PAST)) == (0 if operator == "admin" else 1)
    out = capsys.readouterr().out
    # In XNAT: the project's own subscriptions are inactive but still there; the others untouched.
    assert active(double) == {
        f"{PROJECT} dcm2niix": False,
        f"{PROJECT} old": False,
        f"{PROJECT} deleted": False,
        f"{OTHER} dcm2niix": True,
        "site-wide": True,
    }
    wrapper = ids["wrapper"]
    assert not project_flag(double, wrapper, PROJECT) and project_flag(double, wrapper, OTHER)
    assert double.state.wrapper_site_enabled[wrapper] is True, "the site flag is not the project's"
    # Switched off during the freeze, before the first delete (SessionEvent DELETED would fire).
    writes = [(entry["method"], entry["path"]) for entry in data_writes(double)]
    deactivations = [index for index, (method, path) in enumerate(writes) if path.endswith("/deactivate")]
    first_delete = next(index for index, (method, path) in enumerate(writes) if method == "DELETE")
    assert len(deactivations) == 2 and max(deactivations) < first_delete
    assert ("PUT", f"/xapi/projects/{PROJECT}/wrappers/{wrapper}/disabled") in writes
    assert not any("/subscription/" in path and method == "DELETE" for method, path in writes)
    assert not any(f"/projects/{OTHER}/" in path for _, path in writes)

    (record,) = records(tmp_path)
    findings = [item["what"] for item in record["remains"] if item["severity"] == "finding"]
    assert findings == ([] if operator == "admin" else ["dqr_import_history"])
    action = ACTION.format(wrapper)
    assert record["switched_off"] == {
        "event_subscriptions": [
            {"id": ids[f"{PROJECT} dcm2niix"], "name": f"{PROJECT} dcm2niix", "event_type": SCAN_EVENT,
             "status": "CREATED", "action_key": action},
            {"id": ids[f"{PROJECT} deleted"], "name": f"{PROJECT} deleted", "event_type": SESSION_EVENT,
             "status": "DELETED", "action_key": action},
        ],
        "project_wrappers": [
            {"wrapper_id": wrapper, "wrapper": "dcm2niix-scan", "command_id": ids["command"],
             "command": "dcm2niix", "version": "1.0"},
        ],
    }  # fmt: skip
    assert record["verification"]["active_subscriptions"] == 0
    assert record["verification"]["enabled_wrappers"] == 0
    note = next(item for item in record["remains"] if item["what"] == "switched_off_processing")
    assert note["severity"] == "note" and "dicom_to_nifti" in note["detail"]
    assert (
        record["rest_calls"]["by_route"]["POST /xapi/projects/{project}/events/subscription/{id}/deactivate"]
        == 2
    )
    # Named in the HTML and the summary; the payload filter is not copied anywhere.
    html = next((tmp_path / "reports").glob("*.html")).read_text()
    assert "Switched off" in html and f"{PROJECT} deleted" in html and SESSION_EVENT in html
    assert f"switched off 2 event subscriptions: {ids[f'{PROJECT} dcm2niix']} '{PROJECT} dcm2niix'" in out
    assert "(ScanEvent CREATED)" in out and "dcm2niix-scan (command dcm2niix" in out
    json_text = next((tmp_path / "reports").glob("*.json")).read_text()
    for text in (json_text, html, out):
        assert "resources.length()" not in text and json.dumps(PAYLOAD_FILTER) not in text


def test_a_second_close_switches_nothing_off_again(double, tmp_path):
    add_processing(double)
    assert run(double, tmp_path, access_list_text(end_date=PAST)) == 0
    double.clear_requests()
    assert run(double, tmp_path, access_list_text(end_date=PAST), "--as-of", "2030-01-01") == 0
    writes = [entry["path"] for entry in data_writes(double)]
    assert not [path for path in writes if "/events/" in path or "/wrappers/" in path]
    (second,) = [record for record in records(tmp_path) if record["deleted"]["sessions"] == 0]
    assert second["switched_off"] == {"event_subscriptions": [], "project_wrappers": []}
    assert not [item for item in second["remains"] if item["what"] == "switched_off_processing"]


def test_dry_run_lists_what_would_be_switched_off_and_writes_nothing(double, tmp_path, capsys):
    ids = add_processing(double)
    before = active(double)
    assert run(double, tmp_path, access_list_text(end_date=PAST), "--dry-run") == 0
    out = capsys.readouterr().out
    assert data_writes(double) == []
    assert active(double) == before and project_flag(double, ids["wrapper"], PROJECT)
    assert (
        f"deactivate 2 event subscriptions: {ids[f'{PROJECT} dcm2niix']} '{PROJECT} dcm2niix' "
        f"(ScanEvent CREATED), {ids[f'{PROJECT} deleted']} '{PROJECT} deleted' (SessionEvent DELETED)"
    ) in out
    assert "disable 1 container wrappers for the project: dcm2niix-scan (command dcm2niix" in out
    assert f"{OTHER} dcm2niix" not in out and "site-wide" not in out
    assert not (tmp_path / "reports").exists()


def test_a_subscription_shared_with_another_project_is_left_active_and_is_a_finding(double, tmp_path):
    ids = add_processing(double, shared=True)
    assert run(double, tmp_path, access_list_text(end_date=PAST)) == 1
    assert active(double)["shared"] is True and active(double)[f"{OTHER} dcm2niix"] is True
    (record,) = records(tmp_path)
    (finding,) = [item for item in record["remains"] if item["severity"] == "finding"]
    assert finding["what"] == "shared_event_subscriptions" and finding["ids"] == [ids["shared"]]
    assert OTHER in finding["detail"] and f"Take {PROJECT} out of their project filter" in finding["detail"]
    assert "Until then XNAT reports them invalid" in finding["detail"]  # its wrapper is off for PROJECT
    assert ids["shared"] not in [entry["id"] for entry in record["switched_off"]["event_subscriptions"]]


def test_with_the_event_service_off_nothing_can_be_checked_and_the_record_says_so(double, tmp_path, capsys):
    add_processing(double)
    double.seed({"event_prefs": {"enabled": False}})
    assert run(double, tmp_path, access_list_text(end_date=PAST), "--dry-run") == 0
    assert "event service is switched off" in capsys.readouterr().out
    assert run(double, tmp_path, access_list_text(end_date=PAST)) == 0
    assert active(double)[f"{PROJECT} dcm2niix"] is True, "XNAT lists nothing while the service is off"
    (record,) = records(tmp_path)
    note = next(item for item in record["remains"] if item["what"] == "event_subscriptions")
    assert note["severity"] == "note" and "switched off" in note["detail"]
    assert record["switched_off"]["event_subscriptions"] == []
    assert record["switched_off"]["project_wrappers"][0]["wrapper"] == "dcm2niix-scan"
    assert "active_subscriptions" not in record["verification"]


def test_a_refused_read_of_a_wrapper_flag_is_a_finding_that_names_the_call(double, tmp_path, monkeypatch):
    """A 403 on the project's wrapper flag (an account without Edit there, CS checkPermissionsOrThrow)."""
    ids = add_processing(double)
    original = CloseClient.get

    def get(self, template, query=None, **segments):
        if template == routes.PROJECT_WRAPPER_ENABLED:
            path = routes.path(template, **segments)
            raise self._failed("GET", path, RuntimeError("status 403 (User svc does not have Edit access.)"))
        return original(self, template, query, **segments)

    monkeypatch.setattr(CloseClient, "get", get)
    assert run(double, tmp_path, access_list_text(end_date=PAST)) == 1
    assert project_flag(double, ids["wrapper"], PROJECT), "not known to be on, so not switched off"
    assert active(double)[f"{PROJECT} dcm2niix"] is False, "the subscriptions are switched off all the same"
    (record,) = records(tmp_path)
    (finding,) = [item for item in record["remains"] if item["severity"] == "finding"]
    assert finding["what"] == "project_wrappers"
    where = f"{double.url}/xapi/projects/{PROJECT}/wrappers/{ids['wrapper']}/enabled"
    assert where in finding["detail"] and "status 403" in finding["detail"]
    assert "enabled_wrappers" not in record["verification"]
