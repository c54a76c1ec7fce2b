"""xnat_anon_script (action plugin + module) against the XNAT double."""

from __future__ import annotations

SCRIPT = 'version "6.1"\n(0010,0010) := project\n(0010,0020) := subject\n'
OTHER_SCRIPT = 'version "6.1"\n(0010,0010) := "ANON"\n'
BROKEN_SCRIPT = 'version "6.1"\n(0010,0010) := project\n(0008,0050 := ""\n'


def anon_task(*scripts):
    return {"name": "anon", "xnat_enclave.xnat.xnat_anon_script": {"scripts": list(scripts)}}


def site(**item):
    return {"scope": "site", **item}


def test_site_script_create_no_op_update(initialised, run_tasks):
    initialised.seed({"site_config": {"enableSitewideAnonymizationScript": False}})
    first = run_tasks([anon_task(site(script=SCRIPT, enabled=True))], diff=True).result()
    assert first["changed"] is True, first
    assert "(0010,0010) := project" in first["diff"]["after"]["site anonymisation script"]["script"]
    assert first["actions"] == ["PUT /xapi/anonymize/site", "PUT /xapi/anonymize/site/enabled?enable=true"]
    assert initialised.state.site_config["sitewideAnonymizationScript"] == SCRIPT
    assert initialised.state.site_config["enableSitewideAnonymizationScript"] is True
    enable_puts = [r for r in initialised.writes() if r["path"] == "/xapi/anonymize/site/enabled"]
    assert enable_puts[0]["query"] == {"enable": "true"}

    initialised.clear_requests()
    assert run_tasks([anon_task(site(script=SCRIPT, enabled=True))]).result()["changed"] is False
    assert initialised.writes() == []

    off = run_tasks([anon_task(site(enabled=False))]).result()
    assert off["changed"] is True
    assert initialised.state.site_config["enableSitewideAnonymizationScript"] is False
    assert initialised.state.site_config["sitewideAnonymizationScript"] == SCRIPT


def test_project_scripts_in_one_task_from_src_and_inline(initialised, run_tasks, tmp_path):
    initialised.seed({"projects": [{"id": "CARDIO01", "name": "Cardio"}, {"id": "NEURO02", "name": "Neuro"}]})
    script_file = tmp_path / "neuro.das"
    script_file.write_text(OTHER_SCRIPT)
    items = [
        {"project": "CARDIO01", "script": SCRIPT, "enabled": True},
        {"project": "NEURO02", "src": str(script_file), "enabled": False},
    ]
    result = run_tasks([anon_task(*items)]).result()
    assert result["changed"] is True, result
    projects = initialised.state.projects
    assert projects["CARDIO01"].anon_script == SCRIPT and projects["CARDIO01"].anon_enabled is True
    assert projects["NEURO02"].anon_script == OTHER_SCRIPT and projects["NEURO02"].anon_enabled is False

    initialised.clear_requests()
    assert run_tasks([anon_task(*items)]).result()["changed"] is False
    assert initialised.writes() == []


def test_check_mode_sends_no_write(initialised, run_tasks):
    initialised.seed({"projects": [{"id": "CARDIO01", "name": "Cardio"}]})
    result = run_tasks(
        [anon_task({"project": "CARDIO01", "script": SCRIPT, "enabled": True})], check=True, diff=True
    ).result()
    assert result["changed"] is True
    assert result["diff"]["before"]["project CARDIO01 anonymisation script"] == {
        "script": None,
        "enabled": False,
    }
    assert result["diff"]["after"]["project CARDIO01 anonymisation script"] == {
        "script": SCRIPT,
        "enabled": True,
    }
    assert initialised.writes() == []


def test_syntax_error_and_dicomedit_4_are_refused_and_nothing_is_sent(initialised, run_tasks, tmp_path):
    script_file = tmp_path / "site.das"
    script_file.write_text(BROKEN_SCRIPT)
    run = run_tasks(
        [
            dict(anon_task(site(src=str(script_file), enabled=True)), ignore_errors=True),
            anon_task(site(script="(0020,000D) := new UID\n")),
        ]
    )
    syntax_error, version_error = run.results
    assert syntax_error["failed"] is True
    assert f"{script_file}:3:" in syntax_error["msg"]
    assert "Nothing was sent to XNAT" in syntax_error["msg"]
    assert version_error["failed"] is True
    assert "DicomEdit 4" in version_error["msg"]
    assert initialised.requests() == []


def test_unknown_project_fails_before_any_write(initialised, run_tasks):
    initialised.seed({"projects": [{"id": "CARDIO01", "name": "Cardio"}]})
    items = [{"project": "CARDIO01", "script": SCRIPT}, {"project": "NOPE99", "script": SCRIPT}]
    result = run_tasks([anon_task(*items)]).result()
    assert result["failed"] is True
    assert "NOPE99" in result["msg"] and "unknown project" in result["msg"]
    assert initialised.writes() == []
