"""xnat_info against the XNAT double, and every module's behaviour when XNAT is unreachable."""

from __future__ import annotations

import socket


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_info_reads_version_plugins_and_objects_without_writing(initialised, run_tasks):
    initialised.seed({"build_info": {"version": "1.9.2"}})
    run_tasks(
        [
            {
                "name": "receiver",
                "xnat_enclave.xnat.xnat_dicom_receiver": {
                    "receivers": [{"ae_title": "XNAT_INFO", "port": 8106}]
                },
            }
        ]
    )
    initialised.clear_requests()
    everything = [
        "version",
        "plugins",
        "receivers",
        "pacs",
        "subscriptions",
        "commands",
        "site_anonymization",
    ]
    result = run_tasks(
        [{"name": "info", "xnat_enclave.xnat.xnat_info": {"gather": everything}}], check=True
    ).result()
    assert result["changed"] is False
    facts = result["xnat"]
    assert facts["version"] == "1.9.2"
    assert set(facts["plugins"]) >= {"containers", "dicom-query-retrieve"}
    assert "XNAT_INFO" in [r["aeTitle"] for r in facts["receivers"]]
    assert (facts["pacs"], facts["subscriptions"], facts["commands"]) == ([], [], []), facts
    assert isinstance(facts["site_anonymization"]["enabled"], bool)
    assert initialised.writes() == []


def test_unreachable_xnat_fails_after_retry_budget_naming_url(xnat_double, run_tasks):
    url = f"http://127.0.0.1:{free_port()}"
    run = run_tasks(
        [{"name": "info", "xnat_enclave.xnat.xnat_info": {"gather": ["version"]}}],
        env={"XNAT_URL": url, "XNAT_RETRY_TIMEOUT": "2"},
        password="Never-Shown-9",
    )
    result = run.result()
    assert result["failed"] is True
    expected = f"GET {url}/xapi/siteConfig/buildInfo failed: no response: cannot connect"
    assert result["msg"].startswith(expected)
    assert "retry budget" in result["msg"]
    assert "Never-Shown-9" not in run.stdout + run.stderr
