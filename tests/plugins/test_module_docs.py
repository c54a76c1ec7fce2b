"""Every xnat_* module documents itself the way `ansible-doc` users expect."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_client import xnat_argument_spec

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(f"xnat_enclave.xnat.{path.stem}" for path in (ROOT / "plugins/modules").glob("xnat_*.py"))
RUNTIME = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
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
    spec = xnat_argument_spec()
    assert set(spec) >= CONNECTION_OPTIONS
    assert spec["xnat_password"]["no_log"] is True
    for module in MODULES:
        documented = docs[module]["doc"]["options"]
        for option in CONNECTION_OPTIONS:
            assert documented[option]["type"] == spec[option].get("type", "str"), (module, option)


@pytest.mark.parametrize("module", MODULES)
def test_module_declares_check_mode_diff_and_its_action_group(docs, module):
    attributes = docs[module]["doc"]["attributes"]
    assert attributes["check_mode"]["support"] == "full"
    assert attributes["diff_mode"]["support"] in {"full", "N/A"}
    assert attributes["action_group"]["membership"] == ["xnat_enclave.xnat.xnat"]
    assert not any("check mode" in note.lower() for note in docs[module]["doc"].get("notes", [])), (
        "check and diff support is declared under attributes, not in notes"
    )


def test_every_module_is_in_the_action_group():
    short_names = sorted(module.rsplit(".", 1)[1] for module in MODULES)
    assert sorted(RUNTIME["action_groups"]["xnat"]) == short_names


@pytest.mark.parametrize("module", MODULES)
def test_list_options_have_real_suboptions(docs, module):
    options = docs[module]["doc"]["options"]
    for name, option in options.items():
        if option.get("type") == "list" and option.get("elements") == "dict":
            assert option.get("suboptions"), f"{module}: {name} lists dicts without documented suboptions"
