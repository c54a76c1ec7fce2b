"""Run the double in a background thread (tests) or in the foreground (scripts/xnat-double)."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from . import dicom_receivers
from .app import create_app
from .common import READ_METHODS, STATE_KEY
from .seed import apply_seed
from .state import DoubleState


class DoubleServer:
    """A threaded werkzeug server around one app; ``port=0`` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: dict[str, Any] | None = None) -> None:
        self.app = create_app(DoubleState())
        if seed:
            apply_seed(self.state, seed)
        self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def state(self) -> DoubleState:
        """The live state (replaced by reset(): do not keep a reference across a reset)."""
        return self.app.config[STATE_KEY]

    def start(self) -> DoubleServer:
        dicom_receivers.sync(self.app)  # the receivers listen when the seed asked for it (dicom_listen)
        self._thread = threading.Thread(target=self._server.serve_forever, name="xnat-double", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.start_dicom_listeners()
        self._server.serve_forever()

    def start_dicom_listeners(self) -> None:
        """Start (or re-sync) the DICOM listeners of the current state; requests keep them in line."""
        dicom_receivers.sync(self.app)

    def dicom_listeners(self) -> dict[int, list[str]]:
        """Port → AE titles of the DICOM receivers listening now (empty unless ``dicom_listen``)."""
        return dicom_receivers.listeners(self.app).listening()

    def stop(self) -> None:
        """Stop serving (if started) and close the socket; the DICOM listeners stop too."""
        dicom_receivers.stop(self.app)
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    # --- the fixture's API (interface 3) --------------------------------------------------------
    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(entry) for entry in self.state.request_log]

    def writes(self) -> list[dict[str, Any]]:
        return [entry for entry in self.requests() if entry["method"] not in READ_METHODS]

    def clear_requests(self) -> None:
        with self.state.lock:
            self.state.request_log.clear()

    def seed(self, data: dict[str, Any]) -> None:
        apply_seed(self.state, data)
        dicom_receivers.sync(self.app)

    def reset(self) -> None:
        self.app.config[STATE_KEY] = DoubleState()
        dicom_receivers.sync(self.app)  # a fresh state does not listen: every listener stops

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a control route over HTTP (what another process would do)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None
