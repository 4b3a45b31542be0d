"""``plantwatch dashboard``: the Dash operator dashboard.

Binds to loopback by default. A non-loopback ``--host`` is refused unless the dashboard serves
HTTPS itself (``--tls-cert``/``--tls-key``) or is declared to sit behind a TLS-terminating reverse
proxy (``--behind-proxy``); docs/DASHBOARD.md shows both. SIGTERM or Ctrl-C stops it cleanly:
requests in flight finish, the port is released, exit status 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from pathlib import Path

from plant.cli.common import add_service_options, load_plant, setup_logging

log = logging.getLogger(__name__)

EXIT_USAGE = 2
SECRET_ENV = "PLANTWATCH_DASHBOARD_SECRET"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_service_options(p)
    p.add_argument("--api", help="alarm API base URL (default: from the plant's [alarms.api])")
    p.add_argument(
        "--registry",
        type=Path,
        default=Path("models/registry"),
        help="model registry folder (the model page, expected temperatures)",
    )
    p.add_argument(
        "--users", type=Path, help="users database (default: the plant's [alarms] users_path)"
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument(
        "--secret-file",
        type=Path,
        default=Path("data/dashboard/session_secret"),
        help=f"session signing key, created 0600 at first start (or ${SECRET_ENV})",
    )
    p.add_argument("--tls-cert", type=Path, help="PEM certificate: serve HTTPS")
    p.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    p.add_argument(
        "--behind-proxy",
        action="store_true",
        help="a reverse proxy terminates TLS in front of this process",
    )
    p.add_argument("--refresh-s", type=float, default=5.0, help="live update period, seconds")
    p.add_argument(
        "--serve-state-dir",
        type=Path,
        help="plantwatch serve's --state-dir, for its live per-asset baselines (default: serve/ "
        "beside the store, as serve's own default)",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(args: argparse.Namespace) -> str | None:
    """Why this bind is refused, or None when it is allowed."""
    if (args.tls_cert is None) != (args.tls_key is None):
        return "--tls-cert and --tls-key go together"
    if is_loopback(args.host) or args.tls_cert or args.behind_proxy:
        return None
    return (
        f"refusing to serve on non-loopback host {args.host!r} over plain HTTP: pass "
        "--tls-cert/--tls-key, or --behind-proxy when a reverse proxy terminates TLS"
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    problem = check_exposure(args)
    if problem:
        print(f"plantwatch dashboard: {problem}", file=sys.stderr)
        return EXIT_USAGE
    plant = load_plant(args)
    # Dash and pyarrow only when actually serving
    from dashboard.serve import build_app, serve_until_stopped

    api_url = args.api or f"http://{plant.alarms.api.host}:{plant.alarms.api.port}"
    env_secret = os.environ.get(SECRET_ENV)
    app = build_app(
        plant,
        api_url=api_url,
        store=args.store or plant.store.path,
        registry=args.registry,
        secret_file=args.secret_file,
        users_db=args.users,
        secret=env_secret.encode() if env_secret else None,
        secure_cookies=bool(args.tls_cert or args.behind_proxy),
        refresh_s=args.refresh_s,
        serve_state_dir=args.serve_state_dir,
    )
    ssl = (str(args.tls_cert), str(args.tls_key)) if args.tls_cert else None
    scheme = "https" if ssl else "http"
    log.info("dashboard on %s://%s:%s (alarm API %s)", scheme, args.host, args.port, api_url)
    serve_until_stopped(app, args.host, args.port, ssl)  # returns on SIGTERM / Ctrl-C
    return 0
