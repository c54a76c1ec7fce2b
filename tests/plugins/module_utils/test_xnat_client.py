"""The module_utils transport and input checks (xnat_client, xnat_module), in process."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible_collections.xnat_enclave.xnat.plugins.module_utils import xnat_client, xnat_module
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_resources import XnatAPI


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


@contextlib.contextmanager
def serving(answer):
    """An HTTP server on 127.0.0.1 whose GETs get ``answer() -> (status, content type, body)``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, content_type, body = answer()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def flaky_server():
    """Answers 503 (with a message) a given number of times, then 200 'ok'."""
    served = {"failures_left": 0, "calls": 0}

    def answer():
        served["calls"] += 1
        if served["failures_left"] > 0:
            served["failures_left"] -= 1
            return 503, "text/plain", b"XNAT is starting"
        return 200, "text/plain", b'"ok"'

    with serving(answer) as url:
        served["url"] = url
        yield served


@pytest.fixture
def html_login_server():
    """A proxy or SSO portal that answers every request with its login page and 200."""
    page = b"<html><head><title>Trust single sign-on</title></head><body>Log in</body></html>"
    with serving(lambda: (200, "text/html", page)) as url:
        yield url


def client_for(url, clock=None, password="admin", retry_timeout=60, user="admin"):
    clock = clock or FakeClock()
    return xnat_client.XnatClient(
        url, user, password, retry_timeout=retry_timeout, sleep=clock.sleep, clock=clock
    )


def test_basic_auth_once_then_session_cookie(xnat_double):
    xnat_double.seed({"site_config": {"initialized": True}})
    client = client_for(xnat_double.url)
    client.request("GET", "/xapi/siteConfig")
    assert client._has_session()
    headers = client._auth_headers()
    assert headers == {}, "after the first reply only the JSESSIONID cookie is sent"
    for _ in range(3):
        client.request("GET", "/xapi/users").json()
    assert [r["user"] for r in xnat_double.requests()] == ["admin"] * 4


def test_expired_session_logs_in_again(xnat_double):
    xnat_double.seed({"site_config": {"initialized": True}})
    client = client_for(xnat_double.url)
    client.request("GET", "/xapi/users").json()
    with xnat_double.state.lock:
        xnat_double.state.sessions.clear()
    assert "admin" in client.request("GET", "/xapi/users").json()


def test_retries_503_with_backoff_then_succeeds(flaky_server):
    flaky_server["failures_left"] = 3
    clock = FakeClock()
    assert client_for(flaky_server["url"], clock).request("GET", "/xapi/siteConfig/buildInfo").json() == "ok"
    assert flaky_server["calls"] == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_gives_up_after_budget_naming_method_url_status_and_message(flaky_server):
    flaky_server["failures_left"] = 1000
    clock = FakeClock()
    with pytest.raises(xnat_client.XnatApiError) as caught:
        client_for(flaky_server["url"], clock, retry_timeout=10).request("GET", "/xapi/siteConfig").json()
    message = str(caught.value)
    assert message.startswith(f"GET {flaky_server['url']}/xapi/siteConfig failed: HTTP 503: XNAT is starting")
    assert "retry_timeout" in message
    assert sum(clock.sleeps) <= 10


def test_connection_refused_is_retried_then_reported_without_password():
    url = f"http://127.0.0.1:{free_port()}"
    clock = FakeClock()
    with pytest.raises(xnat_client.XnatApiError) as caught:
        client_for(url, clock, password="S3cret-Pass", retry_timeout=5).request(
            "PUT", "/xapi/x", json_body={}
        )
    message = str(caught.value)
    assert message.startswith(f"PUT {url}/xapi/x failed: no response: cannot connect")
    assert "S3cret-Pass" not in message
    assert len(clock.sleeps) >= 2


def test_client_errors_are_not_retried(xnat_double):
    clock = FakeClock()
    with pytest.raises(xnat_client.XnatApiError) as caught:
        client_for(xnat_double.url, clock, password="wrong-Pass-1").request("GET", "/xapi/siteConfig").json()
    assert caught.value.status == 401
    assert clock.sleeps == []
    assert "wrong-Pass-1" not in str(caught.value)


def test_credentials_in_url_are_redacted():
    assert xnat_client.redact_url("https://svc:pw@xnat.nhs.uk/data") == "https://xnat.nhs.uk/data"


def test_204_and_404_shapes(xnat_double):
    xnat_double.seed({"site_config": {"initialized": True}, "projects": [{"id": "P1", "name": "P1"}]})
    client = client_for(xnat_double.url)
    response = client.request("GET", "/xapi/anonymize/projects/P1", expected=(200, 204))
    assert response.status == 204 and response.json() is None
    api = XnatAPI(client)
    assert api.get_anon_script("P1") is None, "204: the project has no script"
    assert api.get_project_wrapper_enabled("NOPE", 1, "w") is None, "404: no such project"


def test_html_login_page_with_200_names_the_url_and_the_likely_cause(html_login_server):
    with pytest.raises(xnat_client.XnatApiError) as caught:
        client_for(html_login_server).request("GET", "/xapi/siteConfig").json()
    message = str(caught.value)
    assert message.startswith(f"GET {html_login_server}/xapi/siteConfig failed: HTTP 200: expected JSON")
    assert "Trust single sign-on" in message and "SSO" in message


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
    with pytest.raises(xnat_module.XnatInputError, match=message):
        xnat_module.validate_ae_title(value)


def test_valid_ae_titles_and_ports():
    assert xnat_module.validate_ae_title("XNAT_TRUST-A 1") == "XNAT_TRUST-A 1"
    assert xnat_module.validate_port(104) == 104
    for bad in (0, 65536, True, "104"):
        with pytest.raises(xnat_module.XnatInputError):
            xnat_module.validate_port(bad)


def test_argument_spec_reads_environment(monkeypatch):
    spec = xnat_client.xnat_argument_spec()
    assert spec["xnat_password"]["no_log"] is True
    assert spec["validate_certs"]["default"] is True
    monkeypatch.setenv("XNAT_URL", "https://xnat.example")
    fallback, args = spec["xnat_url"]["fallback"]
    assert fallback(*args) == "https://xnat.example"
