"""The double's port of Jayway JsonPath 2.8.0's compiler: which payload filters XNAT accepts."""

from __future__ import annotations

import re

import pytest

from xnat_double.jsonpath import InvalidPathError, compile_path, compile_payload_filter

ACCEPTED = [
    '(@.resources.length() > 0 && "DICOM" in @.resources[*].label)',  # the configure layer's filter
    "@.label == 'DICOM'",
    "'DICOM' in @.resources[*].label",
    "@.modality =~ /MR|CT/i",
    "!@.archived",
    "@.a && (@.b || @.c)",
    "@.type nin ['LOCALIZER', 'SCOUT']",
    "@.frames >= -1.5e3",
    "@.note == null",
    "@.qc == true",
    "@['series description'] == 'T1'",
    "@.files[0].size > 1",
    "@.files[1:3] size 2",
    '@.meta == {"a": 1}',
]
REFUSED = {
    "": "Failed to parse filter",
    "@.label = 'DICOM'": "Expected character: )",
    "(@.label == 'DICOM'": "Could not parse token",
    "@.label == 'DICOM": "Could not find matching close quote",
    "@.qc == tru": "Expected character: )",
    "'DICOM'": "Expected path node",
    "@.modality =~ /MR(/": "Failed to parse filter",
    "@.frames == 1.2.3": "Failed to parse filter",
    "@.frames >": "Failed to parse filter",
    "@.files[1:x] size 1": "Could not parse token",
    "@.label == 'DICOM' &&": "Failed to parse filter",
    "@.a ==== 1": "Expected character: )",
    "@.a..": "Path must not end with a '.' or '..'",
}


@pytest.mark.parametrize("predicate", ACCEPTED)
def test_predicates_jayway_compiles(predicate):
    compile_payload_filter(predicate)


@pytest.mark.parametrize(("predicate", "message"), REFUSED.items())
def test_predicates_jayway_refuses(predicate, message):
    with pytest.raises(InvalidPathError, match=re.escape(message)):
        compile_payload_filter(predicate)


def test_paths_as_well_as_filters():
    compile_path("$.resources[?(@.label == 'DICOM')].files[*]")
    with pytest.raises(InvalidPathError, match="Not enough predicates"):
        compile_path("$.resources[?]")
    with pytest.raises(InvalidPathError, match="not closed properly"):
        compile_path("$.resources.length(")
