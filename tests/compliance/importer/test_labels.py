"""Keyed pseudonyms: deterministic per key and project, unlinkable without the key, valid XNAT labels."""

from __future__ import annotations

import pytest

from compliance.cli import build_parser
from compliance.importer.labels import (
    KEY_ENV,
    KEY_FILE_ENV,
    PseudonymKey,
    PseudonymKeyError,
    label_problem,
    load_key,
    session_pseudonym,
)

SECRET = b"s" * 32


def test_pseudonyms_are_deterministic_keyed_and_project_scoped():
    key = PseudonymKey(SECRET, "test")
    subject, session = key.subject("CARDIO01", "PID00001"), key.session("CARDIO01", "1.2.3.4")
    assert subject == key.subject("CARDIO01", "PID00001") and session == key.session("CARDIO01", "1.2.3.4")
    assert subject != key.subject("CARDIO02", "PID00001"), "the same patient is unlinkable across projects"
    assert subject != PseudonymKey(b"t" * 32, "other").subject("CARDIO01", "PID00001"), "a different key"
    assert key.subject("CARDIO01", "PID00002") != subject
    assert subject.startswith("S") and session.startswith("E")
    assert label_problem("Subject", subject) is None and label_problem("Session", session) is None
    assert "PID00001" not in subject and len(session) <= 16


def test_the_session_pseudonym_is_keyed_on_the_accession_number_when_there_is_one():
    key = PseudonymKey(SECRET, "test")
    by_accession = session_pseudonym(key, "CARDIO01", accession_number="ACC0001", study_instance_uid="1.2.3")
    assert by_accession == session_pseudonym(key, "CARDIO01", accession_number=" ACC0001 "), "no UID needed"
    assert by_accession == key.session_from_accession("CARDIO01", "ACC0001")
    assert by_accession != key.session("CARDIO01", "1.2.3"), "the accession number wins over the UID"
    assert by_accession != session_pseudonym(key, "CARDIO02", accession_number="ACC0001")
    assert session_pseudonym(key, "CARDIO01", accession_number="", study_instance_uid="1.2.3") == key.session(
        "CARDIO01", "1.2.3"
    )
    assert label_problem("Session", by_accession) is None and "ACC0001" not in by_accession
    with pytest.raises(ValueError, match="needs the accession number or the StudyInstanceUID"):
        session_pseudonym(key, "CARDIO01")


def test_the_key_id_names_the_key_without_revealing_it():
    key = PseudonymKey(SECRET, "test")
    assert key.key_id == PseudonymKey(SECRET, "elsewhere").key_id != PseudonymKey(b"t" * 32, "x").key_id
    assert SECRET.decode() not in key.key_id and "s" * 8 not in repr(key)


def test_the_key_comes_from_a_private_file_or_the_environment(tmp_path):
    path = tmp_path / "key"
    path.write_bytes(SECRET + b"\n")
    path.chmod(0o640)
    assert load_key(path, {}).secret == SECRET, "group-readable (the data manager's group) is allowed"
    assert load_key(None, {KEY_FILE_ENV: str(path)}).origin == str(path)
    assert load_key(None, {KEY_ENV: SECRET.decode()}).origin == f"${KEY_ENV}"
    path.chmod(0o644)
    with pytest.raises(
        PseudonymKeyError, match=r"open to every account on this host \(mode 0644\); chmod o-rwx"
    ):
        load_key(path, {})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no pseudonym key: rows without Subject/Session labels get keyed pseudonyms"),
        ({KEY_ENV: "short"}, "the pseudonym key has 5 bytes; use at least 32 random bytes"),
    ],
)
def test_missing_or_weak_keys_are_refused(environ, message):
    with pytest.raises(PseudonymKeyError, match=message):
        load_key(None, environ)


def test_the_secret_cannot_be_given_on_the_command_line():
    plan = build_parser()._subparsers._group_actions[0].choices["import"]
    options = {
        option
        for action in plan._subparsers._group_actions[0].choices["plan"]._actions
        for option in action.option_strings
    }
    assert "--pseudonym-key-file" in options
    assert not {option for option in options if "key" in option} - {"--pseudonym-key-file"}


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("Subject", "S-01_a", None),
        ("Subject", "S 01", "may hold only letters, digits, '_' and '-'"),
        ("Subject", "S/01", "may hold only letters"),
        ("Session", "E" * 16, None),
        ("Session", "E" * 17, "longer than 16 characters, the most DICOM's StudyID and AccessionNumber hold"),
        ("Subject", "S" * 65, "longer than 64 characters"),
    ],
)
def test_label_rules(kind, value, problem):
    found = label_problem(kind, value)
    assert (found is None) if problem is None else (problem in found)
