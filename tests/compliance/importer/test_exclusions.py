"""Which series are left out: the default rules and the trust's rules file (errors at FILE:LINE:COLUMN)."""

from __future__ import annotations

import pytest

from compliance.importer.dqr import Series
from compliance.importer.exclusions import DEFAULT_RULE_SET, RulesFileError, load_rules, parse_rules


def series(modality: str = "CT", description: str = "", sop_classes: tuple[str, ...] = ()) -> Series:
    return Series("1.2.3.4.5", "1", modality, description, 10, sop_classes)


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        (series(description="Dose Report"), "dose-report"),
        (series(description="DOSE INFO"), "dose-report"),
        (series(description="Radiation Dose Summary"), "dose-report"),
        (series(description="Patient Protocol"), "patient-protocol"),
        (series(description="screen capture 1"), "screen-capture"),
        (series(description="Screenshot"), "screen-capture"),
        (series(modality="SR"), "non-image-object"),
        (series(modality="OT"), "non-image-object"),
        (series(modality="DOC"), "non-image-object"),
        (series(modality="PR"), "non-image-object"),
        (series(modality="KO"), "non-image-object"),
        (series(sop_classes=("1.2.840.10008.5.1.4.1.1.88.67",)), "dose-structured-report"),
        (series(sop_classes=("1.2.840.10008.5.1.4.1.1.7",)), "secondary-capture"),
    ],
)
def test_default_rules_exclude_the_sop_series(entry, rule):
    verdict = DEFAULT_RULE_SET.judge(entry)
    assert verdict is not None and verdict.rule == rule


@pytest.mark.parametrize(
    "description", ["Axial 1.25mm", "Coronal MPR", "Dosimetry phantom? no: Dose-free", ""]
)
def test_default_rules_keep_image_series(description):
    assert DEFAULT_RULE_SET.judge(series(description=description)) is None


def test_a_rule_with_several_conditions_needs_all_of_them():
    rules = parse_rules(
        "mode: replace\nrules:\n  - name: ct-protocol\n    reason: r\n    modality: [ct]\n"
        "    series_description: ['^protocol']\n",
        "rules.yml",
    )
    assert rules.judge(series("CT", "Protocol page")).matched == "modality CT and series description"
    assert rules.judge(series("MR", "Protocol page")) is None
    assert rules.judge(series("CT", "Axial protocol")) is None


def test_extend_adds_to_the_defaults_and_replace_uses_only_the_file(tmp_path):
    extra = (
        "rules:\n  - name: ge-dose-screen\n    reason: GE dose screen\n    series_description: 'dose scr'\n"
    )
    extended = parse_rules(extra, "rules.yml")
    assert [rule.name for rule in extended.rules][-1] == "ge-dose-screen"
    assert extended.judge(series(description="Dose Report")).rule == "dose-report"
    assert extended.judge(series(description="GE Dose Screen")).rule == "ge-dose-screen"
    replaced = parse_rules("mode: replace\n" + extra, "rules.yml")
    assert [rule.name for rule in replaced.rules] == ["ge-dose-screen"]
    assert replaced.judge(series(modality="SR")) is None
    assert replaced.source == "rules.yml (mode replace)"
    path = tmp_path / "rules.yml"
    path.write_text(extra)
    assert load_rules(path).rules == extended.rules
    assert load_rules(None) is DEFAULT_RULE_SET


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules: [\n", "rules.yml:2:1: YAML syntax error"),
        ("", "rules.yml:1:1: the rules file is empty"),
        ("mode: sometimes\nrules: []\n", "rules.yml:1:7: mode must be one of extend, replace"),
        ("rule: []\n", "rules.yml:1:1: unknown key 'rule'; allowed keys: mode, rules"),
        ("rules:\n  - name: x\n    reason: r\n", "rules.yml:2:5: a rule needs at least one condition"),
        ("rules:\n  - name: x\n    modality: CT\n", "rules.yml:2:5: a rule needs 'reason'"),
        (
            "rules:\n  - name: Bad_Name\n    reason: r\n    modality: CT\n",
            "rules.yml:2:11: a rule name is lower-case",
        ),
        (
            "rules:\n  - name: x\n    reason: r\n    series_description: ['(dose']\n",
            "rules.yml:4:26: series_description: not a valid regular expression",
        ),
        (
            "rules:\n  - name: x\n    reason: r\n    sop_class: [1.2.x]\n",
            "rules.yml:4:17: sop_class: not a DICOM UID",
        ),
        (
            "rules:\n  - name: x\n    reason: r\n    modality: []\n",
            "rules.yml:4:15: 'modality' is an empty list",
        ),
        (
            "rules:\n  - name: x\n    reason: 12\n    modality: CT\n",
            "rules.yml:3:13: 'reason' must be non-empty text",
        ),
        (
            "rules:\n  - name: x\n    reason: r\n    modality: CT\n    colour: red\n",
            "rules.yml:5:5: unknown key 'colour'",
        ),
        (
            "rules:\n  - name: dose-report\n    reason: r\n    modality: CT\n",
            "rules.yml:2:5: 'dose-report' is a default rule; give another name, or use 'mode: replace'",
        ),
        (
            "mode: replace\nrules:\n  - {name: x, reason: r, modality: CT}\n"
            "  - {name: x, reason: r, modality: MR}\n",
            "rules.yml:4:5: rule name 'x' is used twice",
        ),
    ],
)
def test_rules_file_problems_name_file_line_and_column(text, problem):
    with pytest.raises(RulesFileError) as error:
        parse_rules(text, "rules.yml")
    assert any(line.startswith(problem) for line in error.value.problems), error.value.problems


def test_every_problem_is_reported_at_once():
    text = (
        "rules:\n  - name: x\n    reason: r\n    modality: [c t]\n  - name: y\n    series_description: '('\n"
    )
    with pytest.raises(RulesFileError) as error:
        parse_rules(text, "rules.yml")
    assert len(error.value.problems) == 3
    assert [problem.split(": ")[0] for problem in error.value.problems] == [
        "rules.yml:4:16",
        "rules.yml:5:5",
        "rules.yml:6:25",
    ]
