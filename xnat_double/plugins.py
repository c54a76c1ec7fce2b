"""/xapi/plugins: a JSON object keyed by plugin id.

Source: W18 src/main/java/org/nrg/xapi/rest/settings/XnatPluginApi.java.

Known ids: ``containers`` (CS src/main/java/org/nrg/containers/config/ContainersConfig.java) and
``dicom-query-retrieve``. No access restriction beyond the site's login requirement.
"""

from __future__ import annotations

from flask import Blueprint, Response

from .common import json_response, state, stop

blueprint = Blueprint("plugins", __name__)


@blueprint.route("/xapi/plugins", methods=["GET"])
def list_plugins() -> Response:
    with state().lock:
        return json_response({key: dict(value) for key, value in state().plugins.items()})


@blueprint.route("/xapi/plugins/<plugin_id>", methods=["GET"])
def get_plugin(plugin_id: str) -> Response:
    with state().lock:
        plugin = state().plugins.get(plugin_id)
        if plugin is None:
            stop(404, f"No plugin with ID {plugin_id}")
        return json_response(dict(plugin))
