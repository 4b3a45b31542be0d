"""The embedded pure-Python MQTT broker (amqtt), for machines without Mosquitto.

Run it as ``python -m plant.broker.embedded --port N [--host 127.0.0.1]``. It speaks MQTT 3.1.1
only (amqtt refuses MQTT 5), keeps sessions in memory (nothing survives a restart) and reaches
~4k QoS 1 messages/s on 2 cores: fine for the demo and tests, Mosquitto for anything else.

amqtt forgets the session of an anonymous client when it disconnects, so a consumer with a
persistent session (clean_start=False) would lose what was queued for it. On loopback the
:class:`LoopbackAuthPlugin` accepts every client as a named one, so persistent sessions work
there; anywhere else a password file (``user:argon2-hash`` lines) is required.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

from plant.broker.exposure import BrokerAuth, BrokerSecurityError, check_exposure

log = logging.getLogger(__name__)

_LOOPBACK_AUTH = "plant.broker.embedded.LoopbackAuthPlugin"
_FILE_AUTH = "amqtt.plugins.authentication.FileAuthPlugin"


class LoopbackAuthPlugin(BaseAuthPlugin):
    """Accept every client, as a non-anonymous one (so its persistent session is kept).

    Only ever configured by :func:`broker_config` when the listener is bound to loopback.
    """

    @dataclass
    class Config:
        """No options: the loopback check happens before this plugin is configured."""

    async def authenticate(self, *, session: Session) -> bool | None:
        session.is_anonymous = False
        return True


def broker_config(host: str, port: int, auth: BrokerAuth | None = None) -> dict[str, Any]:
    """amqtt's config for one TCP listener; raise BrokerSecurityError if it would be exposed."""
    auth = auth or BrokerAuth()
    if auth.acl_file is not None:
        raise BrokerSecurityError("the embedded broker has no ACLs; use Mosquitto for ACLs")
    anonymous = check_exposure(host, auth)
    listener: dict[str, Any] = {"type": "tcp", "bind": f"{host}:{port}"}
    if auth.tls:
        listener |= {"ssl": True, "certfile": str(auth.certfile), "keyfile": str(auth.keyfile)}
        if auth.cafile is not None:
            listener["cafile"] = str(auth.cafile)
    plugins: dict[str, Any] = (
        {_LOOPBACK_AUTH: {}}
        if anonymous
        else {_FILE_AUTH: {"password_file": str(auth.password_file)}}
    )
    return {"listeners": {"default": listener}, "plugins": plugins}


async def serve(config: dict[str, Any], stop: asyncio.Event) -> None:
    """Run the broker until ``stop`` is set, then shut it down cleanly."""
    broker = Broker(config)
    await broker.start()
    log.info("embedded broker listening on %s", config["listeners"]["default"]["bind"])
    try:
        await stop.wait()
    finally:
        await broker.shutdown()
        log.info("embedded broker stopped")


def run(host: str, port: int, auth: BrokerAuth | None = None) -> int:
    """Serve until SIGINT/SIGTERM; return the process exit status."""
    try:
        config = broker_config(host, port, auth)
    except BrokerSecurityError as exc:
        log.error("%s", exc)
        return 2

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, stop)

    try:
        asyncio.run(_main())
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc)
        return 1
    return 0


def add_auth_arguments(p: argparse.ArgumentParser) -> None:
    """Options of a broker reachable beyond loopback (shared with ``plantwatch broker``)."""
    p.add_argument("--password-file", type=Path, help="required unless bound to loopback")
    p.add_argument("--acl-file", type=Path, help="Mosquitto ACL file (Mosquitto only)")
    p.add_argument("--certfile", type=Path, help="TLS certificate (PEM)")
    p.add_argument("--keyfile", type=Path, help="TLS private key (PEM)")
    p.add_argument("--cafile", type=Path, help="CA bundle to require client certificates")


def auth_from_args(args: argparse.Namespace) -> BrokerAuth:
    return BrokerAuth(args.password_file, args.acl_file, args.certfile, args.keyfile, args.cafile)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m plant.broker.embedded", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--log-level", default="INFO")
    add_auth_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # amqtt logs every connection at INFO; keep the broker's own lines readable.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    with contextlib.suppress(KeyboardInterrupt):
        return run(args.host, args.port, auth_from_args(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
