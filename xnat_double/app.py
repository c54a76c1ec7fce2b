"""App factory of the XNAT REST double: a Flask app that behaves like a fresh XNAT 1.9/1.10."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from . import (
    anonymize,
    archive_routes,
    auth,
    containers,
    control,
    dicom_receivers,
    dicomscp,
    dqr,
    dqr_export,
    dqr_import,
    dqr_query,
    events,
    plugins,
    prearchive,
    projects,
    schemas,
    site_config,
    users,
)
from .common import READ_METHODS, STATE_KEY, state
from .state import DoubleState

BLUEPRINTS = (
    control,
    auth,
    site_config,
    users,
    projects,
    anonymize,
    dicomscp,
    dqr,
    dqr_query,
    dqr_import,
    dqr_export,
    containers,
    events,
    plugins,
    schemas,
    archive_routes,
    prearchive,
)


def create_app(state: DoubleState | None = None) -> Flask:
    app = Flask("xnat_double")
    app.url_map.strict_slashes = False
    app.config[STATE_KEY] = state or DoubleState()
    dicom_receivers.listeners(app)  # stopped by DoubleServer.stop() or dicom_receivers.stop(app)
    for module in BLUEPRINTS:
        app.register_blueprint(module.blueprint)
    app.before_request(auth.authenticate)
    app.after_request(_finish)
    app.register_error_handler(Exception, _unexpected)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return app


def _finish(response: Response) -> Response:
    auth.set_session_cookie(response)
    if not request.path.startswith(auth.CONTROL_PREFIX):
        user = g.get("user")
        entry = {
            "method": request.method,
            "path": request.path,
            "query": {key: request.args.get(key) for key in request.args},
            "status": response.status_code,
            "user": user.username if user else None,
        }
        current = state()
        with current.lock:
            current.request_log.append(entry)
    if request.method not in READ_METHODS:
        # Receivers created, updated, enabled, disabled or deleted; a seed, a reset or enableDicomReceiver:
        # the listeners follow before the client gets the answer (dicom_receivers.py).
        dicom_receivers.sync(current_app)
    return response


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return error.get_response()
    logging.getLogger("xnat_double").exception("unhandled error in the XNAT double")
    return Response(f"Internal server error: {error}", status=500, mimetype="text/plain")
