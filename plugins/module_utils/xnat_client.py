# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0
"""The HTTP transport under the XNAT resource layer (xnat_resources.XnatAPI).

Built on ansible.module_utils.urls so that modules need no extra Python package on
the host they run on. Basic auth on the first request, then the JSESSIONID cookie XNAT
hands back is reused for the rest of the module run. Connection refused and 502/503/504
are retried with exponential backoff until ``retry_timeout`` seconds have passed (XNAT
takes minutes to start). Every failure names method, URL, status and XNAT's message;
the password is never part of any message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves.http_cookiejar import CookieJar
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlencode, urlsplit, urlunsplit
from ansible.module_utils.urls import Request, make_context
from ansible_collections.xnat_enclave.xnat.plugins.module_utils.xnat_routes import parse_json_body

RETRYABLE_STATUSES = (502, 503, 504)
WRITE_METHODS = ("POST", "PUT", "DELETE", "PATCH")
MAX_MESSAGE_CHARS = 500
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 15.0
READ_WORKERS = 4


def xnat_argument_spec():
    """The connection options every xnat_* module accepts (plus its own)."""
    return {
        "xnat_url": {"type": "str", "required": True, "fallback": (env_fallback, ["XNAT_URL"])},
        "xnat_user": {"type": "str", "required": True, "fallback": (env_fallback, ["XNAT_USER"])},
        "xnat_password": {
            "type": "str",
            "required": True,
            "no_log": True,
            "fallback": (env_fallback, ["XNAT_PASS"]),
        },
        "validate_certs": {
            "type": "bool",
            "default": True,
            "fallback": (env_fallback, ["XNAT_VALIDATE_CERTS"]),
        },
        "ca_path": {"type": "path", "fallback": (env_fallback, ["XNAT_CA_PATH"])},
        "timeout": {"type": "int", "default": 30, "fallback": (env_fallback, ["XNAT_TIMEOUT"])},
        "retry_timeout": {"type": "int", "default": 300, "fallback": (env_fallback, ["XNAT_RETRY_TIMEOUT"])},
    }


class XnatApiError(Exception):
    """A failed XNAT call. ``str()`` names method, URL, status and XNAT's message.

    ``retryable`` is False for what waiting cannot mend (a host name that does not resolve, a certificate
    that does not verify): those fail at once instead of using up the retry budget.
    """

    def __init__(self, method, url, status=None, message="", hint="", *, retryable=None):
        self.method = method
        self.url = url
        self.status = status
        self.message = message
        self.hint = hint
        self.retryable = retryable
        where = "%s %s" % (method, url)
        what = "HTTP %s" % status if status is not None else "no response"
        text = "%s failed: %s" % (where, what)
        if message:
            text += ": %s" % message
        if hint:
            text += ". %s" % hint
        super(XnatApiError, self).__init__(text)


class XnatResponse:
    """Status, headers and raw body of one XNAT reply; ``json()`` names the request when the body is
    not JSON (an SSO or proxy login page answering 200, for example)."""

    def __init__(self, status, body, headers, method="GET", url=""):
        self.status = status
        self.body = body or b""
        self.headers = headers or {}
        self.method = method
        self.url = url

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return parse_json_body(self.text)
        except ValueError:
            content_type = self.headers.get("Content-Type") or self.headers.get("content-type") or "no type"
            seen = _html_message(self.text) if "<html" in self.text.lower() else self.text.strip()[:80]
            raise XnatApiError(
                self.method,
                self.url,
                self.status,
                "expected JSON, got %s: %r" % (content_type, seen),
                "Is xnat_url the XNAT itself and not a login page, SSO portal or proxy in front of it?",
            ) from None


def redact_url(url):
    """Drop any user:password@ part so it never reaches a message or log."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class XnatClient:
    """A session with one XNAT: Basic auth first, then the JSESSIONID cookie."""

    def __init__(
        self,
        url,
        user,
        password,
        *,
        validate_certs=True,
        ca_path=None,
        timeout=30,
        retry_timeout=300,
        sleep=time.sleep,
        clock=time.monotonic,
    ):
        self.base_url = check_url(url).rstrip("/")
        self.user = user
        self._password = password
        self.timeout = timeout
        self.retry_timeout = retry_timeout
        self._sleep = sleep
        self._clock = clock
        self._cookies = CookieJar()
        # One TLS context for the whole run: building it loads the CA store, which costs far more
        # than a request to XNAT (ansible's Request would otherwise build one per request).
        context = make_context(cafile=ca_path, validate_certs=validate_certs)
        self._request = Request(
            validate_certs=validate_certs,
            ca_path=ca_path,
            timeout=timeout,
            context=context,
            cookies=self._cookies,
            follow_redirects="none",
            use_netrc=False,
        )
        self.request_count = 0
        self.write_count = 0
        self._count_lock = threading.Lock()

    @classmethod
    def from_module(cls, module):
        params = module.params
        return cls(
            params["xnat_url"],
            params["xnat_user"],
            params["xnat_password"],
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            timeout=params["timeout"],
            retry_timeout=params["retry_timeout"],
        )

    def switch_login(self, user, password):
        """Log in again, as another account or with another password (drops the session)."""
        self.user = user
        self._password = password
        self._cookies.clear()

    # --- low level -------------------------------------------------------------------
    def url_for(self, path, query=None):
        url = self.base_url + path
        if query:
            pairs = [(k, self._query_value(v)) for k, v in query.items() if v is not None]
            url += "?" + urlencode(pairs)
        return url

    @staticmethod
    def _query_value(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        return value

    def _has_session(self):
        return any(cookie.name == "JSESSIONID" for cookie in self._cookies)

    def _auth_headers(self):
        if self._has_session():
            return {}
        token = "%s:%s" % (self.user, self._password)
        return {"Authorization": "Basic " + base64.b64encode(token.encode("utf-8")).decode("ascii")}

    def request(
        self,
        method,
        path,
        *,
        query=None,
        json_body=None,
        text_body=None,
        form=None,
        expected=(200,),
        headers=None,
    ):
        """Send one request and return an XnatResponse; raise XnatApiError otherwise.

        ``expected`` lists the statuses that count as success (others raise).
        """
        url = self.url_for(path, query)
        data, send_headers = self._encode_body(json_body, text_body, form)
        send_headers.update(headers or {})
        deadline = self._clock() + self.retry_timeout
        delay = FIRST_BACKOFF_SECONDS
        attempts = 0
        while True:
            attempts += 1
            try:
                response = self._send_once(method, url, data, send_headers)
                if response.status in RETRYABLE_STATUSES and response.status not in expected:
                    raise XnatApiError(method, redact_url(url), response.status, _message_of(response.body))
            except XnatApiError as error:
                if not self._retryable(error) or self._clock() + delay > deadline:
                    if self._retryable(error):
                        error = self._gave_up(error, attempts)
                    raise error
                self._sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                continue
            if response.status not in expected:
                raise XnatApiError(method, redact_url(url), response.status, _message_of(response.body))
            return response

    @staticmethod
    def _retryable(error):
        if error.retryable is not None:
            return error.retryable
        return error.status is None or error.status in RETRYABLE_STATUSES

    def _gave_up(self, error, attempts):
        hint = (
            "Gave up after %d attempts over the %ss retry budget (retry_timeout); check that XNAT "
            "is running and xnat_url is right" % (attempts, self.retry_timeout)
        )
        return XnatApiError(error.method, error.url, error.status, error.message, hint)

    @staticmethod
    def _encode_body(json_body, text_body, form):
        headers = {"Accept": "application/json, text/plain, */*"}
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            return json.dumps(json_body).encode("utf-8"), headers
        if text_body is not None:
            headers["Content-Type"] = "text/plain"
            return text_body.encode("utf-8"), headers
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return urlencode(form).encode("utf-8"), headers
        return None, headers

    def _send_once(self, method, url, data, headers, allow_reauth=True):
        shown_url = redact_url(url)
        had_session = self._has_session()
        all_headers = dict(headers)
        all_headers.update(self._auth_headers())
        with self._count_lock:
            self.request_count += 1
            if method in WRITE_METHODS:
                self.write_count += 1
        try:
            raw = self._request.open(method, url, data=data, headers=all_headers)
            return XnatResponse(raw.getcode(), raw.read(), dict(raw.headers), method, shown_url)
        except HTTPError as error:
            body = _read_error_body(error)
            if error.code == 401 and had_session and allow_reauth:
                self._cookies.clear()  # session expired: log in again once with Basic auth
                return self._send_once(method, url, data, headers, allow_reauth=False)
            return XnatResponse(error.code, body, dict(error.headers or {}), method, shown_url)
        except (URLError, socket.timeout, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            hint = _configuration_problem(reason)
            raise XnatApiError(
                method, shown_url, None, "cannot connect: %s" % (reason,), hint, retryable=not hint
            ) from None

    def map_reads(self, func, items):
        """``[func(item) for item in items]`` with the reads overlapping on a few threads.

        Only for GETs: writes stay sequential so their order is the order of the task. The first
        request of a run should already have been made, so every thread reuses the session.
        """
        items = list(items)
        if len(items) < 2 or READ_WORKERS < 2:
            return [func(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(items))) as pool:
            return list(pool.map(func, items))


def _configuration_problem(reason):
    """What to fix when a connection error is a configuration error rather than XNAT starting up."""
    if isinstance(reason, socket.gaierror):
        return "The host name in xnat_url does not resolve; check xnat_url (not retried)"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return "XNAT's certificate does not verify; set ca_path to the trust CA that signed it (not retried)"
    return ""


def check_url(url):
    """xnat_url must be an http(s) URL with a host; anything else is a configuration error."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "xnat_url %r is not an http:// or https:// URL with a host name (for example "
            "https://xnat.trust.nhs.uk); nothing was sent" % (redact_url(url or ""),)
        )
    return url


def _read_error_body(error):
    try:
        return error.read() or b""
    except Exception:
        return b""


def _message_of(body):
    """XNAT's message from an error body: text/plain, a JSON message or a Tomcat error page."""
    text = (body or b"").decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    if text.startswith("{"):
        try:
            payload = json.loads(text)
            for key in ("message", "error", "errorMessage"):
                if isinstance(payload, dict) and payload.get(key):
                    return str(payload[key])[:MAX_MESSAGE_CHARS]
        except ValueError:
            pass
    if "<html" in text.lower():
        return _html_message(text)
    return text[:MAX_MESSAGE_CHARS]


def _html_message(text):
    lowered = text.lower()
    for tag in ("<title>", "<h1>"):
        start = lowered.find(tag)
        if start >= 0:
            end = lowered.find("<", start + len(tag))
            return text[start + len(tag) : end].strip()[:MAX_MESSAGE_CHARS]
    return "HTML error page"
