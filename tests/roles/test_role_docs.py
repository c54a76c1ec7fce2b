"""Role variables are described once, in meta/argument_specs.yml; README and defaults/main.yml follow it.

scripts/role-docs renders the spec into each README between markers and reports where the spec and
defaults/main.yml disagree. These tests hold the real roles to that, and check the script itself on
small roles made in a temporary directory.
"""

import importlib.machinery
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts/role-docs"
ROLES = sorted(path for path in (REPO / "roles").iterdir() if path.is_dir())


def _load_script():
    loader = importlib.machinery.SourceFileLoader("role_docs", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("role_docs", loader))
    sys.modules["role_docs"] = module  # dataclasses look their module up here
    loader.exec_module(module)
    return module


role_docs = _load_script()
MARKERS = f"{role_docs.BEGIN}\n{role_docs.END}\n"


def run_script(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def options_of(role_dir):
    specs = yaml.safe_load((role_dir / "meta/argument_specs.yml").read_text())["argument_specs"]
    return {name: option for spec in specs.values() for name, option in (spec.get("options") or {}).items()}


# ---------------------------------------------------------------- the repository's roles


def test_every_role_is_found():
    assert {path.name for path in ROLES} >= {
        "base",
        "postgresql",
        "tomcat",
        "xnat",
        "xnat_config",
        "compliance",
    }


@pytest.mark.parametrize("role_dir", ROLES, ids=lambda path: path.name)
def test_spec_options_are_exactly_the_defaults(role_dir):
    defaults = yaml.safe_load((role_dir / "defaults/main.yml").read_text()) or {}
    options = options_of(role_dir)
    assert sorted(set(defaults) - set(options)) == [], "in defaults/main.yml but not in the spec"
    assert sorted(set(options) - set(defaults)) == [], "in the spec but not in defaults/main.yml"


@pytest.mark.parametrize("role_dir", ROLES, ids=lambda path: path.name)
def test_spec_defaults_are_the_defaults(role_dir):
    assert role_docs.drift(role_docs.Role(role_dir)) == []


@pytest.mark.parametrize("role_dir", ROLES, ids=lambda path: path.name)
def test_readme_is_rendered_from_the_spec(role_dir):
    current, wanted = role_docs.rendered_readme(role_docs.Role(role_dir))
    assert current == wanted, f"{role_dir.name}/README.md is stale: run scripts/role-docs"


@pytest.mark.parametrize("role_dir", ROLES, ids=lambda path: path.name)
def test_readme_lists_every_option(role_dir):
    readme = (role_dir / "README.md").read_text()
    for name in options_of(role_dir):
        assert f"| `{name}` |" in readme


def test_check_passes_on_the_repository():
    result = run_script("--check")
    assert (result.returncode, result.stderr) == (0, "")


# ---------------------------------------------------------------- the script, on roles made here

SPEC = {
    "argument_specs": {
        "main": {
            "short_description": "Demo",
            "options": {
                "demo_port": {"type": "int", "default": 8080, "description": "Port of C(demo)."},
                "demo_mode": {
                    "type": "str",
                    "default": "no",
                    "choices": ["no", "yes-please"],
                    "description": ["First paragraph.", "Second I(paragraph)."],
                },
                "demo_filter": {
                    "type": "str",
                    "default": "{{ x | default('') }}",
                    "description": "A template.",
                },
                "demo_secret": {
                    "type": "str",
                    "required": True,
                    "no_log": True,
                    "description": "From the vault.",
                },
                "demo_items": {
                    "type": "list",
                    "elements": "dict",
                    "default": [],
                    "description": "Items.",
                    "options": {"file": {"type": "str", "required": True, "description": "File name."}},
                },
            },
        }
    }
}
DEFAULTS = {
    "demo_port": 8080,
    "demo_mode": "no",
    "demo_filter": "{{ x | default('') }}",
    "demo_secret": "",
    "demo_items": [],
}
PROSE_BEFORE = "# Role `demo`\n\nHand-written prose.\n\n## Variables\n\n"
PROSE_AFTER = "\nHandler: `Restart demo`.\n"


def make_role(roles_dir, spec=None, defaults=None, readme=None, name="demo"):
    role = roles_dir / name
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta/argument_specs.yml").write_text(
        yaml.safe_dump(SPEC if spec is None else spec, sort_keys=False)
    )
    (role / "defaults/main.yml").write_text(yaml.safe_dump(DEFAULTS if defaults is None else defaults))
    (role / "README.md").write_text(PROSE_BEFORE + MARKERS + PROSE_AFTER if readme is None else readme)
    return role


def test_rendered_table():
    lines = role_docs.render(SPEC["argument_specs"]).splitlines()
    assert lines[:2] == ["| Variable | Type | Required | Default | Description |", "|---|---|---|---|---|"]
    assert lines[2:] == [
        "| `demo_port` | int | no | `8080` | Port of `demo`. |",
        '| `demo_mode` | str | no | `"no"` | First paragraph. Second *paragraph*.'
        ' Choices: `"no"`, `yes-please`. |',
        "| `demo_filter` | str | no | `\"{{ x \\| default('') }}\"` | A template. |",
        "| `demo_secret` | str | yes | — | From the vault. Never logged. |",
        "| `demo_items` | list of dict | no | `[]` | Items. |",
        "| `demo_items[].file` | str | yes | — | File name. |",
    ]


def test_several_entry_points_get_a_section_each():
    specs = {
        **SPEC["argument_specs"],
        "ping": {"short_description": "Ping only", "description": "Changes nothing."},
    }
    text = role_docs.render(specs)
    assert "### Entry point `main`\n\nDemo.\n\n| Variable |" in text
    assert text.endswith("### Entry point `ping`\n\nPing only. Changes nothing.\n\nNo variables of its own.")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Europe/London", "Europe/London"),
        ("", '""'),
        ("no", '"no"'),
        ("22", '"22"'),
        ("*-*-* 02:30:00", '"*-*-* 02:30:00"'),
        (22, "22"),
        (False, "false"),
        (None, "null"),
        (["a", "b: c"], '[a, "b: c"]'),
        ({"k": [1, True]}, "{k: [1, true]}"),
    ],
)
def test_values_are_shown_as_yaml_would_read_them(value, shown):
    assert role_docs.literal(value) == shown


def test_regenerating_fills_the_markers_and_keeps_the_prose(tmp_path):
    role = make_role(tmp_path / "roles")
    result = run_script("--roles", "roles", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "role-docs: updated roles/demo/README.md\n"
    readme = (role / "README.md").read_text()
    table = role_docs.render(SPEC["argument_specs"])
    assert readme == f"{PROSE_BEFORE}{role_docs.BEGIN}\n{table}\n{role_docs.END}\n{PROSE_AFTER}"
    again = run_script("--roles", "roles", "--check", cwd=tmp_path)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_check_names_the_role_and_file_of_a_stale_readme_and_changes_nothing(tmp_path):
    make_role(tmp_path / "roles")
    make_role(tmp_path / "roles", name="fresh")
    assert run_script("--roles", "roles", cwd=tmp_path).returncode == 0
    stale_readme = tmp_path / "roles/demo/README.md"
    stale_text = stale_readme.read_text().replace("Port of `demo`.", "Port of something else.")
    stale_readme.write_text(stale_text)
    result = run_script("--roles", "roles", "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert "roles/demo/README.md: variables section of role demo is out of date" in result.stderr
    assert "fresh" not in result.stderr
    assert stale_readme.read_text() == stale_text


def test_a_default_missing_from_the_spec_is_reported(tmp_path):
    role = make_role(tmp_path, defaults={**DEFAULTS, "demo_extra": 1})
    assert role_docs.drift(role_docs.Role(role)) == [
        f"{role}/defaults/main.yml: demo_extra is not an option in meta/argument_specs.yml"
    ]


def test_an_option_missing_from_the_defaults_is_reported(tmp_path):
    defaults = {name: value for name, value in DEFAULTS.items() if name != "demo_port"}
    role = make_role(tmp_path, defaults=defaults)
    assert role_docs.drift(role_docs.Role(role)) == [
        f"{role}/meta/argument_specs.yml: option demo_port is not in defaults/main.yml"
    ]


@pytest.mark.parametrize(("default", "shown"), [(9090, "9090"), ("8080", '"8080"')])
def test_a_spec_default_that_differs_from_defaults_main_is_reported(tmp_path, default, shown):
    role = make_role(tmp_path, defaults={**DEFAULTS, "demo_port": default})
    assert role_docs.drift(role_docs.Role(role)) == [
        f"{role}/meta/argument_specs.yml: option demo_port has default 8080"
        f" but defaults/main.yml sets {shown}"
    ]


def test_an_option_without_a_default_in_the_spec_is_reported(tmp_path):
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    del spec["argument_specs"]["main"]["options"]["demo_port"]["default"]
    role = make_role(tmp_path, spec=spec)
    assert role_docs.drift(role_docs.Role(role)) == [
        f"{role}/meta/argument_specs.yml: option demo_port has no default; defaults/main.yml sets 8080"
    ]


def test_drift_fails_the_check_even_with_a_current_readme(tmp_path):
    make_role(tmp_path / "roles", defaults={**DEFAULTS, "demo_port": 9090})
    run_script("--roles", "roles", cwd=tmp_path)
    result = run_script("--roles", "roles", "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "role-docs: roles/demo/meta/argument_specs.yml: option demo_port has default 8080"
        " but defaults/main.yml sets 9090\n"
    )


@pytest.mark.parametrize(
    "readme",
    [
        "# No markers\n",
        f"{role_docs.END}\n{role_docs.BEGIN}\n",
        f"{MARKERS}{MARKERS}",
    ],
    ids=["none", "reversed", "twice"],
)
def test_a_readme_without_one_pair_of_markers_is_an_error(tmp_path, readme):
    make_role(tmp_path / "roles", readme=readme)
    result = run_script("--roles", "roles", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("role-docs: roles/demo/README.md: needs one line `<!-- BEGIN role-docs")
    assert (tmp_path / "roles/demo/README.md").read_text() == readme


def test_a_role_without_a_spec_is_an_error(tmp_path):
    role = make_role(tmp_path / "roles")
    (role / "meta/argument_specs.yml").unlink()
    result = run_script("--roles", "roles", "--check", cwd=tmp_path)
    assert result.returncode == 2
    assert "roles/demo/meta/argument_specs.yml: cannot read" in result.stderr


def test_ansible_tags_in_defaults_are_read(tmp_path):
    role = make_role(tmp_path)
    (role / "defaults/main.yml").write_text(
        textwrap.dedent("""\
            demo_port: 8080
            demo_mode: "no"
            demo_filter: !unsafe "{{ x | default('') }}"
            demo_secret: ""
            demo_items: []
        """)
    )
    assert role_docs.drift(role_docs.Role(role)) == []
