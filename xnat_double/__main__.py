"""Run the XNAT REST double (a fresh XNAT 1.9/1.10 look-alike) on 127.0.0.1.

Usage: python -m xnat_double --port PORT [--host 127.0.0.1] [--seed FILE] [--dqr-api settings|legacy|both]
[--dicom-listen] [--containers docker]
(``scripts/xnat-double`` runs this with the project virtualenv). Control routes (no auth):
GET/DELETE /__double__/requests, POST /__double__/seed, POST /__double__/reset.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from xnat_double import DoubleServer, SeedError, load_seed_file
from xnat_double.state import DQR_API_CHOICES


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xnat-double", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--seed", type=Path, help="JSON or YAML seed file (users, projects, site_config)")
    parser.add_argument("--dqr-api", choices=DQR_API_CHOICES, help="which DQR settings route exists")
    parser.add_argument(
        "--dicom-listen",
        action="store_true",
        help="the enabled DICOM receivers listen on 127.0.0.1 (seed double.dicom_listen)",
    )
    parser.add_argument(
        "--containers",
        choices=["docker"],
        help="run container-service commands for real on the local Docker engine (seed double.containers)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        seed = load_seed_file(args.seed) if args.seed else {}
        if args.dqr_api:
            seed.setdefault("double", {})["dqr_api"] = args.dqr_api
        if args.dicom_listen:
            seed.setdefault("double", {})["dicom_listen"] = True
        if args.containers:
            seed.setdefault("double", {})["containers"] = args.containers
        server = DoubleServer(args.host, args.port, seed=seed)
    except (OSError, SeedError, ValueError) as error:
        print(f"xnat-double: {error}", file=sys.stderr)
        return 2
    print(f"xnat-double: serving {server.url} (admin/admin; Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.start_dicom_listeners()
            for port, titles in server.dicom_listeners().items():
                listening = f"{', '.join(titles)} on 127.0.0.1:{port}"
                print(f"xnat-double: DICOM {listening}", file=sys.stderr, flush=True)
            server.serve_forever()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
