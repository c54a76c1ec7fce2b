"""Authentication: Basic auth, the JSESSIONID session, the init check, and the session routes.

Sources (W18 = oncai/xnat at 1.8.10.1, `…` = src/main/java/org/nrg):
- W18 …/xnat/security/XnatBasicAuthenticationFilter.java: bad Basic credentials → sendError(401).
- W18 …/xnat/security/XnatInitCheckFilter.java, before initialisation: a request carrying Basic auth and
  no logged-in session, to a non-init URL → sendError(403, "Site has not yet been configured."); a
  logged-in session (JSESSIONID) on any URL but the init, setup and error paths → 302 to /setup (admin)
  or /app/template/Unconfigured.vm (others); anonymous requests go on to the login check.
- W18 …/xnat/security/XnatAuthenticationEntryPoint.java: anonymous non-browser request → 401 + challenge.
- W18 src/main/resources/META-INF/xnat/security/configured-urls.yaml: open and init URLs.
- W18 …/xnat/restlet/resources/UserSession.java (/data/JSESSION), …/UserAuth.java (/data/auth),
  …/xnat/restlet/extensions/AuthenticationRestlet.java (/data/services/auth: PUT/POST form
  username+password → the session id as text).
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, abort, g, request

from .common import challenge, current_user, empty, state, stop_tomcat, text
from .state import User, duration_seconds, now_ms

blueprint = Blueprint("auth", __name__)

OPEN_PATHS = frozenset(
    {
        "/",
        "/app/template/Login.vm",
        "/data/JSESSION",
        "/data/services/auth",
        "/xapi/siteConfig/buildInfo",
        "/xapi/siteConfig/siteId",
        "/xapi/siteConfig/siteUrl",
        "/xapi/siteConfig/siteHome",
        "/xapi/siteConfig/siteLogoPath",
    }
)
INIT_PATHS = frozenset({"/xapi/siteConfig", "/xapi/siteConfig/initialized", "/xapi/notifications/smtp"})
SETUP_PATH = "/setup"
NON_ADMIN_ERROR_PATH = "/app/template/Unconfigured.vm"
CONTROL_PREFIX = "/__double__/"


def normalised_path() -> str:
    path = request.path.rstrip("/") or "/"
    return path.replace("/REST/", "/data/", 1) if path.startswith("/REST/") else path


def check_password(username: str | None, password: str | None) -> User | None:
    """The user if the credentials are good, the account enabled and not locked out; else None.

    Failed logins count towards maxFailedLogins (default 20; <= 0 disables): the account is then
    locked for maxFailedLoginsLockoutDuration (default "1 hour") even for the right password
    (XNAT core XnatProviderManager / failed-login lockout).
    """
    current = state()
    user = current.users.get(username or "")
    if user is None:
        return None
    if user.locked_until > time.time():
        return None
    if not user.enabled or password is None or user.password != password:
        user.failed_logins += 1
        limit = int(current.site_config.get("maxFailedLogins") or 0)
        if 0 < limit <= user.failed_logins:
            lockout = current.site_config.get("maxFailedLoginsLockoutDuration")
            user.locked_until = time.time() + duration_seconds(lockout, 3600)
            user.failed_logins = 0
        return None
    user.failed_logins = 0
    return user


def authenticate() -> None:
    """before_request hook: set ``g.user`` or end the request the way XNAT's filter chain would."""
    g.user = None
    g.new_session = None
    path = normalised_path()
    if path.startswith(CONTROL_PREFIX):
        return
    current = state()
    with current.lock:
        session_user = current.session_user(request.cookies.get("JSESSIONID"))
        if session_user is not None:
            g.user = session_user
            if not current.initialized and path not in INIT_PATHS | {SETUP_PATH, NON_ADMIN_ERROR_PATH}:
                target = SETUP_PATH if session_user.is_admin else NON_ADMIN_ERROR_PATH
                abort(Response("", status=302, headers={"Location": request.host_url.rstrip("/") + target}))
            return
        credentials = request.authorization
        if credentials is not None and credentials.type == "basic":
            _basic_login(path, credentials.username, credentials.password)
            return
        if path in OPEN_PATHS or path.startswith("/app/"):
            return
        guest = current.users.get("guest")
        if current.site_config.get("requireLogin", True) or guest is None or not guest.enabled:
            challenge(xapi=path.startswith("/xapi/"))
        g.user = guest


def _basic_login(path: str, username: str | None, password: str | None) -> None:
    current = state()
    if not current.initialized and path not in INIT_PATHS:
        stop_tomcat(403, "Site has not yet been configured.")
    user = check_password(username, password)
    if user is None:
        stop_tomcat(401, "Bad credentials", {"WWW-Authenticate": 'Basic realm="XNAT"'})
    user.last_successful_login = now_ms()
    g.user = user
    g.new_session = current.new_session(user.username)


def set_session_cookie(response: Response) -> Response:
    token = g.get("new_session")
    if token:
        response.set_cookie("JSESSIONID", token, path="/", httponly=True)
    return response


def _session_token() -> str:
    """The caller's session id, creating one (for the user, or anonymous) when there is none."""
    current = state()
    token = request.cookies.get("JSESSIONID")
    if token and token in current.sessions:
        return token
    if g.get("new_session"):
        return g.new_session
    user = current_user()
    g.new_session = current.new_session(user.username if user else "")
    return g.new_session


@blueprint.route("/data/JSESSION", methods=["GET", "POST"])
def jsession() -> Response:
    with state().lock:
        token = _session_token()
    if (request.args.get("CSRF") or "").lower() == "true":
        return text(f"{token}; XNAT_CSRF={token[:8].lower()}-csrf")
    return text(token)


@blueprint.route("/data/JSESSION", methods=["DELETE"])
def jsession_delete() -> Response:
    current = state()
    with current.lock:
        current.sessions.pop(request.cookies.get("JSESSIONID") or "", None)
    response = empty()
    response.delete_cookie("JSESSIONID", path="/")
    return response


@blueprint.route("/data/auth", methods=["GET"])
@blueprint.route("/data/services/auth", methods=["GET"])
def who_is_logged_in() -> Response:
    user = current_user()
    if user is None:
        challenge(xapi=False)
    return text(f"User '{user.username}' is logged in")


@blueprint.route("/data/services/auth", methods=["PUT", "POST"])
def login_with_form() -> Response:
    current = state()
    with current.lock:
        user = check_password(request.values.get("username"), request.values.get("password"))
        if user is None:
            return text(
                "<html><body><h3>Login attempt failed. Please try again.</h3></body></html>",
                status=401,
                mimetype="text/html",
            )
        user.last_successful_login = now_ms()
        g.user = user
        g.new_session = current.new_session(user.username)
    return text(g.new_session)


@blueprint.route("/", methods=["GET"])
def home() -> Response:
    if current_user() is None:
        return Response("", status=302, headers={"Location": "/app/template/Login.vm"})
    return text("<html><body>XNAT</body></html>", mimetype="text/html")


@blueprint.route("/setup", methods=["GET"])
@blueprint.route("/app/template/Unconfigured.vm", methods=["GET"])
def setup_page() -> Response:
    return text("<html><body>XNAT has not been configured yet.</body></html>", mimetype="text/html")


@blueprint.route("/app/template/Login.vm", methods=["GET"])
def login_page() -> Response:
    return text("<html><body><form id='login_form'>XNAT login</form></body></html>", mimetype="text/html")
