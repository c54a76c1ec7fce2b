"""XNAT REST double: a Flask app that behaves like a fresh XNAT 1.9/1.10 for the toolkit's endpoints.

``create_app(state=None)`` builds the app; ``DoubleServer`` runs it on 127.0.0.1 in a thread;
``scripts/xnat-double --port PORT`` runs it from the command line.
"""

from .app import create_app
from .seed import SeedError, apply_seed, load_seed_file
from .server import DoubleServer
from .state import DoubleOptions, DoubleState

__all__ = [
    "DoubleOptions",
    "DoubleServer",
    "DoubleState",
    "SeedError",
    "apply_seed",
    "create_app",
    "load_seed_file",
]
