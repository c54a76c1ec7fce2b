"""The shared XNAT REST client (plugins/module_utils/xnat_api.py), in process."""

from __future__ import annotations

import importlib.util
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MODULE_PATH = Path(__file__).resolve().parents[2] / "plugins" / "module_utils" / "xnat_api.py"
_spec = importlib.util.spec_from_file_location("xnat_api_under_test", MODULE_PATH)
xnat_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(xnat_api)


class FakeClock:
    """Time that moves only when the client sleeps, so retry budgets cost no real time."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def flaky_server():
    """Answers 503 (with a message) a given number of times, then 200 'ok'."""
    served = {"failures_left": 0, "calls": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            served["calls"] += 1
            if served["failures_left"] > 0:
                served["failures_left"] -= 1
                body, status = b"XNAT is starting", 503
            else:
                body, status = b'"ok"', 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield served
    server.shutdown()
    server.server_close()


def client_for(url, clock=None, password="admin", retry_timeout=60, user="admin"):
    clock = clock or FakeClock()
    return xnat_api.XnatClient(
        url, user, password, retry_timeout=retry_timeout, sleep=clock.sleep, clock=clock
    )


def test_basic_auth_once_then_session_cookie(xnat_double):
    xnat_double.seed({"site_config": {"initialized": True}})
    client = client_for(xnat_double.url)
    client.get_json("/xapi/siteConfig")
    assert client._has_session()
    headers = client._auth_headers()
    assert headers == {}, "after the first reply only the JSESSIONID cookie is sent"
    for _ in range(3):
        client.get_json("/xapi/users")
    assert [r["user"] for r in xnat_double.requests()] == ["admin"] * 4


def test_expired_session_logs_in_again(xnat_double):
    xnat_double.seed({"site_config": {"initialized": True}})
    client = client_for(xnat_double.url)
    client.get_json("/xapi/users")
    with xnat_double.state.lock:
        xnat_double.state.sessions.clear()
    assert "admin" in client.get_json("/xapi/users")


def test_retries_503_with_backoff_then_succeeds(flaky_server):
    flaky_server["failures_left"] = 3
    clock = FakeClock()
    assert client_for(flaky_server["url"], clock).get_json("/xapi/siteConfig/buildInfo") == "ok"
    assert flaky_server["calls"] == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_gives_up_after_budget_naming_method_url_status_and_message(flaky_server):
    flaky_server["failures_left"] = 1000
    clock = FakeClock()
    with pytest.raises(xnat_api.XnatApiError) as caught:
        client_for(flaky_server["url"], clock, retry_timeout=10).get_json("/xapi/siteConfig")
    message = str(caught.value)
    assert message.startswith(f"GET {flaky_server['url']}/xapi/siteConfig failed: HTTP 503: XNAT is starting")
    assert "retry_timeout" in message
    assert sum(clock.sleeps) <= 10


def test_connection_refused_is_retried_then_reported_without_password():
    url = f"http://127.0.0.1:{free_port()}"
    clock = FakeClock()
    with pytest.raises(xnat_api.XnatApiError) as caught:
        client_for(url, clock, password="S3cret-Pass", retry_timeout=5).request(
            "PUT", "/xapi/x", json_body={}
        )
    message = str(caught.value)
    assert message.startswith(f"PUT {url}/xapi/x failed: no response: cannot connect")
    assert "S3cret-Pass" not in message
    assert len(clock.sleeps) >= 2


def test_client_errors_are_not_retried(xnat_double):
    clock = FakeClock()
    with pytest.raises(xnat_api.XnatApiError) as caught:
        client_for(xnat_double.url, clock, password="wrong-Pass-1").get_json("/xapi/siteConfig")
    assert caught.value.status == 401
    assert clock.sleeps == []
    assert "wrong-Pass-1" not in str(caught.value)


def test_credentials_in_url_are_redacted():
    assert xnat_api.redact_url("https://svc:pw@xnat.nhs.uk/data") == "https://xnat.nhs.uk/data"


def test_result_set_rows_and_string_total():
    payload = {"ResultSet": {"Result": [{"ID": "A"}, {"ID": "B"}], "totalRecords": "2"}}
    assert xnat_api.parse_result_set(payload) == [{"ID": "A"}, {"ID": "B"}]
    with pytest.raises(ValueError, match="totalRecords=3"):
        xnat_api.parse_result_set({"ResultSet": {"Result": [], "totalRecords": "3"}})
    with pytest.raises(ValueError, match="not an XNAT ResultSet"):
        xnat_api.parse_result_set([1, 2])


@pytest.mark.parametrize(("body", "expected"), [("true", True), ("false", False), ('"true"\n', True)])
def test_bare_boolean_bodies(body, expected):
    assert xnat_api.parse_bool_body(body) is expected


def test_created_bodies():
    assert xnat_api.parse_created_id("CARDIO01 dcm2niix:42") == 42
    assert xnat_api.parse_created_id("17") == 17


def test_204_and_404_shapes(xnat_double):
    xnat_double.seed({"site_config": {"initialized": True}, "projects": [{"id": "P1", "name": "P1"}]})
    client = client_for(xnat_double.url)
    response = client.request("GET", "/xapi/anonymize/projects/P1", expected=(200, 204))
    assert response.status == 204 and response.json() is None
    assert client.get_optional_json("/xapi/users/profile/nobody") is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "required"),
        ("A" * 17, "at most 16"),
        ("A\\B", "backslash"),
        ("   ", "all spaces"),
        ("A\x07", "printable"),
        ("ÄE", "printable"),
    ],
)
def test_ae_title_validation(value, message):
    with pytest.raises(xnat_api.XnatInputError, match=message):
        xnat_api.validate_ae_title(value)


def test_valid_ae_titles_and_ports():
    assert xnat_api.validate_ae_title("XNAT_TRUST-A 1") == "XNAT_TRUST-A 1"
    assert xnat_api.validate_port(104) == 104
    for bad in (0, 65536, True, "104"):
        with pytest.raises(xnat_api.XnatInputError):
            xnat_api.validate_port(bad)


def test_argument_spec_reads_environment(monkeypatch):
    spec = xnat_api.xnat_argument_spec()
    assert spec["xnat_password"]["no_log"] is True
    assert spec["validate_certs"]["default"] is True
    monkeypatch.setenv("XNAT_URL", "https://xnat.example")
    fallback, args = spec["xnat_url"]["fallback"]
    assert fallback(*args) == "https://xnat.example"
