"""The route table and response shapes shared by the modules and the enclave CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ansible_collections.xnat_enclave.xnat.plugins.module_utils import xnat_routes as routes

ROOT = Path(__file__).resolve().parents[3]
# Where a URL may be written: the route table, and the XNAT double (which serves them).
ROUTE_HOMES = {ROOT / "plugins/module_utils/xnat_routes.py"}
URL_LITERAL = re.compile(r"""["'](/(?:xapi|data)/[^"'\s]*)["']""")


def test_path_quotes_every_segment():
    assert routes.path(routes.PROJECT_MEMBER, project="P 1", group="Owners", username="a/b") == (
        "/data/projects/P%201/users/Owners/a%2Fb"
    )
    assert routes.path(routes.COMMAND, id=None) == "/xapi/commands/(new)", "check mode: not created yet"


def test_no_url_literal_outside_the_route_table():
    """Modules, plugins, the CLI and scripts build XNAT URLs from xnat_routes only."""
    places = [
        *ROOT.glob("plugins/**/*.py"),
        *ROOT.glob("compliance/**/*.py"),
        *ROOT.glob("roles/**/*.py"),
    ]
    offenders = []
    for place in places:
        if place.resolve() in ROUTE_HOMES:  # compliance/xnat/routes.py is a link to the table
            continue
        for number, line in enumerate(place.read_text(encoding="utf-8").splitlines(), start=1):
            if URL_LITERAL.search(line) and "C(" not in line:  # C(...) is documentation markup
                offenders.append(f"{place.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_result_set_rows_and_string_total():
    payload = {"ResultSet": {"Result": [{"ID": "A"}, {"ID": "B"}], "totalRecords": "2"}}
    assert routes.parse_result_set(payload) == [{"ID": "A"}, {"ID": "B"}]
    with pytest.raises(ValueError, match="totalRecords=3"):
        routes.parse_result_set({"ResultSet": {"Result": [], "totalRecords": "3"}})
    with pytest.raises(ValueError, match="not an XNAT ResultSet"):
        routes.parse_result_set([1, 2])


@pytest.mark.parametrize(("body", "expected"), [("true", True), ("false", False), ('"true"\n', True)])
def test_bare_boolean_bodies(body, expected):
    assert routes.parse_bool_body(body) is expected


def test_created_bodies():
    assert routes.parse_created_id("CARDIO01 dcm2niix:42") == 42
    assert routes.parse_created_id("17") == 17


def test_project_role_from_group_id():
    assert routes.project_role("CARDIO01_owner", "CARDIO01") == "owner"
    assert routes.project_role("custom_group", "CARDIO01") == "custom_group"


def test_subscription_summary_keeps_no_payload_filter_or_attributes():
    display = {
        "id": 12,
        "name": "CARDIO01 dcm2niix",
        "active": True,
        "action-key": "org.nrg.containers.services.CommandActionProvider:7",
        "attributes": {"note": "free text"},
        "editable": True,
        "event-filter": {
            "event-type": "org.nrg.xnat.eventservice.events.ScanEvent",
            "status": "CREATED",
            "project-ids": ["CARDIO01"],
            "payload-filter": "@.label == 'x'",
        },
    }
    assert routes.parse_subscription(display) == {
        "id": 12,
        "name": "CARDIO01 dcm2niix",
        "active": True,
        "event_type": "org.nrg.xnat.eventservice.events.ScanEvent",
        "status": "CREATED",
        "action_key": "org.nrg.containers.services.CommandActionProvider:7",
        "project_ids": ["CARDIO01"],
    }
    site_wide = {"id": 3, "active": False, "event-filter": {"event-type": "x"}}  # NON_NULL: no project-ids
    assert routes.parse_subscription(site_wide)["project_ids"] == []
    assert routes.parse_subscription(site_wide)["active"] is False
    with pytest.raises(ValueError, match="not an event subscription"):
        routes.parse_subscription({"id": 1})


def test_command_wrappers_and_project_enabled_report():
    commands = [{"id": 4, "name": "dcm2niix", "version": "1.0", "xnat": [{"id": 7, "name": "dcm2niix-scan"}]}]
    assert routes.parse_command_wrappers(commands) == [
        {
            "command_id": 4,
            "command": "dcm2niix",
            "version": "1.0",
            "wrapper_id": 7,
            "wrapper": "dcm2niix-scan",
        }
    ]
    assert routes.parse_command_wrappers([{"id": 5, "name": "bare"}]) == []
    with pytest.raises(ValueError, match="not a list of commands"):
        routes.parse_command_wrappers({"id": 4})
    report = {"enabled-for-site": True, "enabled-for-project": False, "project": "CARDIO01"}
    assert routes.parse_project_enabled_report(report) == (True, False)
    with pytest.raises(ValueError, match="ProjectEnabledReport"):
        routes.parse_project_enabled_report(True)
