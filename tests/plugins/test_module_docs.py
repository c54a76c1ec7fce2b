"""Every xnat_* module documents itself the way `ansible-doc` users expect."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(path.stem for path in (ROOT / "plugins/modules").glob("xnat_*.py"))
CONNECTION_OPTIONS = {"xnat_url", "xnat_user", "xnat_password", "validate_certs", "ca_path", "timeout"}


@pytest.fixture(scope="module")
def docs():
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    result = subprocess.run(
        ["ansible-doc", "--json", *MODULES], capture_output=True, text=True, check=False, cwd=ROOT, env=env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_there_is_a_module_per_xnat_object():
    assert len(MODULES) >= 9


@pytest.mark.parametrize("module", MODULES)
def test_module_renders_with_examples_and_return(docs, module):
    doc = docs[module]
    assert doc["doc"]["short_description"]
    assert set(doc["doc"]["options"]) >= CONNECTION_OPTIONS, (
        "shared connection options from the xnat fragment"
    )
    examples = yaml.safe_load(doc["examples"])
    assert any(module in task for task in examples), "EXAMPLES must show the module in a task"
    assert doc["return"], "RETURN must describe the results"


def test_documented_connection_options_match_the_argument_spec(docs):
    import sys  # noqa: PLC0415

    sys.path.insert(0, str(ROOT / "plugins/module_utils"))
    try:
        from xnat_api import xnat_argument_spec  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    spec = xnat_argument_spec()
    assert set(spec) >= CONNECTION_OPTIONS
    assert spec["xnat_password"]["no_log"] is True
    for module in MODULES:
        documented = docs[module]["doc"]["options"]
        for option in CONNECTION_OPTIONS:
            assert documented[option]["type"] == spec[option].get("type", "str"), (module, option)


@pytest.mark.parametrize("module", MODULES)
def test_module_declares_check_mode_and_diff(docs, module):
    notes = " ".join(docs[module]["doc"].get("notes", []))
    attributes = docs[module]["doc"].get("attributes", {})
    declared = "check mode" in notes.lower() or attributes.get("check_mode", {}).get("support") in {
        "full",
        "partial",
    }
    assert declared, f"{module} must say how it supports check mode"
