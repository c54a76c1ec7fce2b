"""Bad input is refused before the first request: each class names what and where, and XNAT sees nothing.

The security suite of issue 16 for the modules: identifiers XNAT would refuse (417/400 after a write
attempt), integers, AE titles, scripts XNAT could not run, an unusable xnat_url, a certificate that does
not verify (not retried), and the password of the task in none of the outputs.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
import time

import pytest

CANARY = "Canary-Pass-4417"
PROJECT = "xnat_enclave.xnat.xnat_project"
USER = "xnat_enclave.xnat.xnat_user"
DQR = "xnat_enclave.xnat.xnat_dqr"
ANON = "xnat_enclave.xnat.xnat_anon_script"

BAD_INPUT = {
    "project id with a space": (
        PROJECT,
        {"projects": [{"id": "CARDIO 01"}]},
        "projects[0]: project id 'CARDIO 01'",
    ),
    "project id with a slash": (
        PROJECT,
        {"projects": [{"id": "CARDIO/01"}]},
        "projects[0]: project id 'CARDIO/01'",
    ),
    "project id with an accent": (
        PROJECT,
        {"projects": [{"id": "CARDIÖ"}]},
        "projects[0]: project id 'CARDIÖ'",
    ),
    "prearchive code not a number": (
        PROJECT,
        {"projects": [{"id": "CARDIO01", "prearchive_code": "abc"}]},
        "prearchive_code",
    ),
    "username XNAT refuses": (
        USER,
        {"users": [{"username": "1alice", "password": CANARY}]},
        "users[0]: username",
    ),
    "e-mail XNAT refuses": (
        USER,
        {"users": [{"username": "alice", "password": CANARY, "email": "alice at trust"}]},
        "users[0] (alice): e-mail address 'alice at trust'",
    ),
    "DQR calling AE with a backslash": (
        DQR,
        {"settings": {"dqrCallingAe": "XNAT\\A"}},
        "settings.dqrCallingAe: AE title",
    ),
    "script calling a function DicomEdit lacks": (
        ANON,
        {"scripts": [{"scope": "site", "script": 'version "6.3"\n(0010,0010) := lookupMagic["x"]\n'}]},
        "lookupMagic[...] (line 2); XNAT would fail on every file it receives",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_naming_what_and_where_before_any_request(initialised, run_tasks, case):
    module, args, expected = BAD_INPUT[case]
    initialised.clear_requests()
    run = run_tasks([{"name": case, module: args}], password=CANARY, extra_args=["-vvv"])
    result = run.result()
    assert result["failed"] is True
    assert expected in result["msg"], result["msg"]
    assert initialised.requests() == [], "refused before anything reached XNAT"
    assert CANARY not in run.stdout + run.stderr


def test_an_xnat_url_without_a_scheme_fails_at_once(initialised, run_tasks):
    started = time.monotonic()
    run = run_tasks(
        [{"name": "info", "xnat_enclave.xnat.xnat_info": {"gather": ["version"]}}],
        env={"XNAT_URL": "xnat.trust.nhs.uk", "XNAT_RETRY_TIMEOUT": "60"},
    )
    result = run.result()
    assert result["failed"] is True
    assert "xnat_url 'xnat.trust.nhs.uk' is not an http:// or https:// URL" in result["msg"]
    assert result["http_requests"] == 0
    assert time.monotonic() - started < 30, "a configuration error is not retried for the 60 s budget"


@pytest.fixture
def self_signed_https(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate no CA vouches for."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_certificate_that_does_not_verify_fails_at_once_naming_ca_path(
    xnat_double, run_tasks, self_signed_https
):
    started = time.monotonic()
    run = run_tasks(
        [{"name": "info", "xnat_enclave.xnat.xnat_info": {"gather": ["version"]}}],
        env={"XNAT_URL": self_signed_https, "XNAT_RETRY_TIMEOUT": "60"},
    )
    result = run.result()
    assert result["failed"] is True
    assert "certificate" in result["msg"].lower() and "ca_path" in result["msg"], result["msg"]
    assert "not retried" in result["msg"]
    assert time.monotonic() - started < 30


def test_check_mode_sends_no_write_for_every_writing_module(initialised, run_tasks):
    initialised.seed({"users": [{"username": "bob", "password": "pw-bob-123456", "email": "b@x.nhs.uk"}]})
    initialised.clear_requests()
    tasks = [
        {"name": "project", PROJECT: {"projects": [{"id": "CHECK01", "owners": ["bob"]}], "exclusive": True}},
        {"name": "user", USER: {"users": [{"username": "carol", "password": CANARY, "email": "c@x.nhs.uk"}]}},
        {
            "name": "receiver",
            "xnat_enclave.xnat.xnat_dicom_receiver": {"receivers": [{"ae_title": "XCHK", "port": 8110}]},
        },
        {"name": "script", ANON: {"scripts": [{"scope": "site", "script": 'version "6.3"\n-(0010,0030)\n'}]}},
        {"name": "site", "xnat_enclave.xnat.xnat_site_config": {"settings": {"requireLogin": False}}},
    ]
    run = run_tasks(tasks, check=True, diff=True)
    assert all(result["changed"] for result in run.results), [r.get("msg") for r in run.results]
    assert all(result["actions"] for result in run.results)
    assert initialised.writes() == []
    assert CANARY not in run.stdout + run.stderr
