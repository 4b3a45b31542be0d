"""Who may reach a broker: anonymous access on loopback only, passwords (and ACLs) elsewhere."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from pathlib import Path


class BrokerSecurityError(ValueError):
    """A broker setting that would expose it without authentication, with the fix."""


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerAuth:
    """Authentication and transport security for a broker reachable beyond this machine.

    ``password_file``: Mosquitto's (made with ``mosquitto_passwd``) or, for the embedded broker,
    ``user:argon2-hash`` lines. ``acl_file``: Mosquitto ACL (topic rules per user).
    ``certfile``/``keyfile`` (and ``cafile`` to require client certificates) turn on TLS.
    """

    password_file: Path | None = None
    acl_file: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    cafile: Path | None = None

    @property
    def tls(self) -> bool:
        return self.certfile is not None

    def check_files(self) -> None:
        """Raise BrokerSecurityError naming any configured file that does not exist."""
        if (self.certfile is None) != (self.keyfile is None):
            raise BrokerSecurityError("TLS needs both a certificate file and a key file")
        for name in ("password_file", "acl_file", "certfile", "keyfile", "cafile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise BrokerSecurityError(f"{name} {str(path)!r} does not exist or is not a file")


def is_loopback(host: str) -> bool:
    """True if ``host`` (a name or address) only ever means this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_exposure(bind: str, auth: BrokerAuth) -> bool:
    """Whether anonymous access is allowed on ``bind``; refuse a non-loopback bind without auth.

    Returns True for loopback without a password file (anonymous demo broker), False when a
    password file is given; raises BrokerSecurityError for a non-loopback bind without one.
    """
    auth.check_files()
    if auth.password_file is not None:
        return False
    if is_loopback(bind):
        return True
    raise BrokerSecurityError(
        f"refusing to listen on {bind!r} without authentication: anyone who can reach it could "
        "publish fake readings. Bind 127.0.0.1, or pass --password-file (and --acl-file; "
        "--certfile/--keyfile for TLS); see docs/OPERATIONS.md"
    )
