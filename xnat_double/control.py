"""Control routes of the double, outside XNAT's namespace and without auth (interface 3)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from .common import STATE_KEY, empty, json_response, request_json, state, stop
from .seed import SeedError, apply_seed
from .state import DoubleState

blueprint = Blueprint("control", __name__, url_prefix="/__double__")


@blueprint.route("/requests", methods=["GET"])
def get_requests() -> Response:
    current = state()
    with current.lock:
        return json_response(list(current.request_log))


@blueprint.route("/requests", methods=["DELETE"])
def clear_requests() -> Response:
    current = state()
    with current.lock:
        current.request_log.clear()
    return empty(204)


@blueprint.route("/seed", methods=["POST"])
def seed() -> Response:
    body = request_json()
    if not isinstance(body, dict):
        stop(400, "seed: expected a JSON object")
    try:
        apply_seed(state(), body)
    except (SeedError, ValueError, TypeError) as error:
        stop(400, f"seed: {error}")
    return empty(204)


@blueprint.route("/reset", methods=["POST"])
def reset() -> Response:
    """A fresh XNAT: admin/admin, enabled guest, not initialised, empty request log."""
    current_app.config[STATE_KEY] = DoubleState()
    return empty(204)
