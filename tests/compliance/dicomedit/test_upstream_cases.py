"""The cases ported from NRG's DicomEdit 6 unit tests and REST test scripts (upstream/*.yaml).

Every case must agree with upstream except those marked ``differs``, whose reason is documented in the
case and which must keep disagreeing (so a change that quietly starts agreeing is noticed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from upstream_cases import load_cases, run_case

import compliance.dicomedit as engine
from compliance.anon.lint import lint_script
from compliance.dicomedit import load_script_text

CASES = load_cases()


def test_every_case_names_its_upstream_source() -> None:
    assert len(CASES) >= 150
    for case in CASES:
        assert case.source.startswith(("NrgXnat/xnat-rest-tests:", "danielmarcus/xnat-monorepo:")), case.id


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_upstream_case(case) -> None:
    result = run_case(case, engine)
    if case.differs:
        assert not result.agrees, f"{case.id} now agrees with upstream; remove its 'differs' note"
    else:
        assert result.agrees, result.detail


# Real scripts from public XNAT projects, kept with their provenance in the shared reference folder
# (shared/ sits beside the checkout, for sessions and CI alike).
REAL_WORLD = Path(__file__).resolve().parents[4] / "shared" / "reference" / "dicomedit-real-world"
SOURCES = json.loads((REAL_WORLD / "sources.json").read_text()) if REAL_WORLD.is_dir() else []


@pytest.mark.skipif(not SOURCES, reason="shared/reference/dicomedit-real-world is not beside the checkout")
@pytest.mark.parametrize("entry", SOURCES, ids=[entry["file"] for entry in SOURCES])
def test_real_world_scripts_parse_and_lint_exactly_when_they_are_valid_dicomedit_6(entry) -> None:
    text = (REAL_WORLD / entry["file"]).read_text(encoding="utf-8")
    if not entry["valid_de6"]:
        with pytest.raises(engine.ScriptError):
            load_script_text(text, entry["file"])
        return
    report = lint_script(load_script_text(text, entry["file"]))
    assert len(report.attributes) == 647
