# -*- coding: utf-8 -*-
# Copyright: xnat-enclave contributors
# Apache-2.0
"""The one XNAT REST client shared by every xnat_* module.

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
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible.module_utils.six.moves.http_cookiejar import CookieJar
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode, urlsplit, urlunsplit
from ansible.module_utils.urls import Request, make_context

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
    """A failed XNAT call. ``str()`` names method, URL, status and XNAT's message."""

    def __init__(self, method, url, status=None, message="", hint=""):
        self.method = method
        self.url = url
        self.status = status
        self.message = message
        self.hint = hint
        where = "%s %s" % (method, url)
        what = "HTTP %s" % status if status is not None else "no response"
        text = "%s failed: %s" % (where, what)
        if message:
            text += ": %s" % message
        if hint:
            text += ". %s" % hint
        super(XnatApiError, self).__init__(text)


class XnatResponse:
    """Status, headers and raw body of one XNAT reply, with decoders for XNAT's shapes."""

    def __init__(self, status, body, headers):
        self.status = status
        self.body = body or b""
        self.headers = headers or {}

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        if not self.body.strip():
            return None
        return json.loads(self.text)


def redact_url(url):
    """Drop any user:password@ part so it never reaches a message or log."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def parse_result_set(payload):
    """Rows of a Restlet ``{"ResultSet": {"Result": [...], "totalRecords": "N"}}`` body."""
    if not isinstance(payload, dict) or "ResultSet" not in payload:
        raise ValueError("not an XNAT ResultSet: %r" % (payload,)[:200])
    result_set = payload["ResultSet"]
    rows = result_set.get("Result") or []
    declared = result_set.get("totalRecords")
    if declared not in (None, "") and int(declared) != len(rows):
        raise ValueError("ResultSet says totalRecords=%s but holds %d rows" % (declared, len(rows)))
    return rows


def parse_bool_body(text):
    """XNAT's bare ``true``/``false`` bodies (JSON or text/plain)."""
    value = text.strip().strip('"').lower()
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("expected a bare true/false body, got %r" % text[:100])


def parse_created_id(text):
    """The id in a 201 body: ``"name:id"`` (event subscriptions) or a bare id (commands)."""
    value = text.strip().strip('"')
    ident = value.rsplit(":", 1)[-1]
    return int(ident) if ident.isdigit() else ident


def quote_segment(value):
    """One URL path segment (project ids, usernames, AE titles)."""
    return quote(str(value), safe="")


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
        self.base_url = url.rstrip("/")
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
            return XnatResponse(raw.getcode(), raw.read(), dict(raw.headers))
        except HTTPError as error:
            body = _read_error_body(error)
            if error.code == 401 and had_session and allow_reauth:
                self._cookies.clear()  # session expired: log in again once with Basic auth
                return self._send_once(method, url, data, headers, allow_reauth=False)
            return XnatResponse(error.code, body, dict(error.headers or {}))
        except (URLError, socket.timeout, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise XnatApiError(method, shown_url, None, "cannot connect: %s" % (reason,)) from None

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

    # --- shapes ----------------------------------------------------------------------
    def get_json(self, path, query=None, expected=(200,)):
        return self.request("GET", path, query=query, expected=expected).json()

    def get_text(self, path, query=None, expected=(200,)):
        return self.request("GET", path, query=query, expected=expected).text

    def get_bool(self, path, query=None):
        return parse_bool_body(self.get_text(path, query=query))

    def get_result_set(self, path, query=None):
        query = dict(query or {})
        query.setdefault("format", "json")
        response = self.request("GET", path, query=query)
        try:
            return parse_result_set(response.json())
        except ValueError as error:
            raise XnatApiError(
                "GET", redact_url(self.url_for(path, query)), response.status, str(error)
            ) from None

    def get_optional_json(self, path, query=None):
        """JSON body, or None on 404 (object absent)."""
        response = self.request("GET", path, query=query, expected=(200, 404))
        return None if response.status == 404 else response.json()

    def post_created(self, path, json_body, query=None):
        """POST that answers 201 with ``name:id`` or a bare id; returns the id."""
        response = self.request("POST", path, query=query, json_body=json_body, expected=(200, 201))
        return parse_created_id(response.text)


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


def _normalise_scalar(value):
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 18:
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise(value):
    """Compare XNAT values with desired ones: booleans/numbers as XNAT writes them back."""
    if isinstance(value, (str, float)) and not isinstance(value, bool):
        return _normalise_scalar(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def differs(current, desired):
    """True when the desired value is not what XNAT holds (after normalising shapes)."""
    return normalise(current) != normalise(desired)


def fail_json_on_error(module, func, *args, **kwargs):
    """Run func; turn XnatApiError into module.fail_json with the clear message."""
    try:
        return func(*args, **kwargs)
    except XnatApiError as error:
        module.fail_json(msg=str(error), status=error.status, url=error.url, method=error.method)
    return None


class ChangeTracker:
    """Collects before/after for the diff and counts the writes a run makes (or would make)."""

    def __init__(self, check_mode):
        self.check_mode = check_mode
        self.changed = False
        self.actions = []

    def record(self, description):
        self.changed = True
        self.actions.append(description)

    def write(self, description, func, *args, **kwargs):
        """Record a change; perform it unless in check mode."""
        self.record(description)
        if self.check_mode:
            return None
        return func(*args, **kwargs)


class XnatInputError(Exception):
    """Bad module input, detected before any request is sent."""


def validate_ae_title(value, where="ae_title"):
    """DICOM AE title: 1-16 characters of the default repertoire, no backslash or control
    characters, not all spaces (PS3.5 table 6.2-1, VR AE)."""
    if not isinstance(value, str) or not value:
        raise XnatInputError("%s: an AE title is required (1-16 characters)" % where)
    if len(value) > 16:
        raise XnatInputError(
            "%s: AE title %r is %d characters long; DICOM allows at most 16" % (where, value, len(value))
        )
    for char in value:
        if char == "\\" or not (" " <= char <= "~"):
            raise XnatInputError(
                "%s: AE title %r contains %r; only printable ASCII without backslash is "
                "allowed (DICOM default repertoire)" % (where, value, char)
            )
    if not value.strip():
        raise XnatInputError("%s: AE title must not be all spaces" % where)
    return value.strip()


def validate_port(value, where="port"):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise XnatInputError("%s: port %r is not a TCP port number (1-65535)" % (where, value))
    return value


def run_xnat_module(argument_spec, reconcile, **module_kwargs):
    """Build the AnsibleModule (shared connection options + argument_spec), run
    ``reconcile(module, client) -> dict`` and exit, turning errors into clear failures."""
    spec = xnat_argument_spec()
    spec.update(argument_spec)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **module_kwargs)
    client = XnatClient.from_module(module)
    try:
        result = reconcile(module, client)
    except XnatInputError as error:
        module.fail_json(msg=str(error), http_requests=client.request_count, http_writes=client.write_count)
    except XnatApiError as error:
        module.fail_json(
            msg=str(error),
            status=error.status,
            url=error.url,
            method=error.method,
            http_requests=client.request_count,
            http_writes=client.write_count,
        )
    result.setdefault("changed", False)
    result["http_requests"] = client.request_count
    result["http_writes"] = client.write_count
    module.exit_json(**result)


def require_projects(client, project_ids, where):
    """Fail on unknown project ids before anything is written (one request for all of them)."""
    wanted = {str(p) for p in project_ids if p}
    if not wanted:
        return
    known = {row.get("ID") for row in client.get_result_set("/data/projects")}
    unknown = sorted(wanted - known)
    if unknown:
        raise XnatInputError(
            "%s: unknown project(s) %s; create them first (xnat_project). Nothing was changed."
            % (where, ", ".join(unknown))
        )
