"""Users, roles and API tokens, shared by the alarm API and the dashboard (SQLite).

Passwords are hashed with scrypt (hashlib, salted, n=2**14, r=8, p=1) and compared in constant
time. API tokens are 256-bit random strings shown once; only their SHA-256 is stored, with an
expiry. Roles are cumulative: an operator views, acknowledges, shelves, comments, closes alarms and
records maintenance; an engineer may also manage models; an admin may also manage users.

First start: :func:`ensure_admin` creates ``admin`` with the password the entry point read from
``PLANTWATCH_ADMIN_PASSWORD``, or a generated one-time password it returns to be printed once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import threading
import time
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)
NS = 1_000_000_000
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
MIN_PASSWORD = 10
TOKEN_PREFIX = "pwt_"


class Role(StrEnum):
    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW = "view"
    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    COMMENT = "comment"
    CLOSE = "close"
    MAINTENANCE = "maintenance"
    MODELS = "models"
    USERS = "users"


_OPERATOR = frozenset(
    {
        Permission.VIEW,
        Permission.ACKNOWLEDGE,
        Permission.SHELVE,
        Permission.COMMENT,
        Permission.CLOSE,
        Permission.MAINTENANCE,
    }
)
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: _OPERATOR,
    Role.ENGINEER: _OPERATOR | {Permission.MODELS},
    Role.ADMIN: _OPERATOR | {Permission.MODELS, Permission.USERS},
}


class UserError(ValueError):
    """A user could not be created or changed; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once; only its hash is kept
    username: str
    expires_ns: int


SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    salt BLOB NOT NULL,
    pw_hash BLOB NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    label TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL
);
"""


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)  # type: ignore[arg-type]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Users and tokens in one SQLite file (WAL); safe to share between threads."""

    def __init__(self, path: str | Path, clock: object = time.time_ns) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._dummy_salt = secrets.token_bytes(16)

    def _now(self) -> int:
        return int(self._clock())  # type: ignore[operator]

    def create_user(self, username: str, password: str, role: Role | str) -> User:
        if not USERNAME.match(username):
            raise UserError(f"username {username!r}: use 1-64 of A-Z a-z 0-9 _ . @ -")
        if len(password) < MIN_PASSWORD:
            raise UserError(f"password must have at least {MIN_PASSWORD} characters")
        try:
            role = Role(role)
        except ValueError:
            raise UserError(f"role {role!r} is not one of {[r.value for r in Role]}") from None
        salt = secrets.token_bytes(16)
        row = (username, role.value, salt, hash_password(password, salt), self._now())
        with self._lock:
            try:
                self._db.execute("INSERT INTO users VALUES (?,?,?,?,?)", row)
            except sqlite3.IntegrityError:
                raise UserError(f"user {username!r} exists") from None
        log.info("user %s created with role %s", username, role.value)
        return User(username, role)

    def set_password(self, username: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"password must have at least {MIN_PASSWORD} characters")
        salt = secrets.token_bytes(16)
        with self._lock:
            cur = self._db.execute(
                "UPDATE users SET salt = ?, pw_hash = ? WHERE username = ?",
                (salt, hash_password(password, salt), username),
            )
            self._db.execute("DELETE FROM tokens WHERE username = ?", (username,))
        if cur.rowcount == 0:
            raise UserError(f"no user {username!r}")

    def delete_user(self, username: str) -> bool:
        with self._lock:
            return (
                self._db.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount > 0
            )

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT username, role FROM users ORDER BY username").fetchall()
        return [User(u, Role(r)) for u, r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches; same work whether or not the user exists."""
        with self._lock:
            row = self._db.execute(
                "SELECT role, salt, pw_hash FROM users WHERE username = ?", (username,)
            ).fetchone()
        salt = row[1] if row else self._dummy_salt
        computed = hash_password(password, salt)
        if row is None or not hmac.compare_digest(computed, row[2]):
            return None
        return User(username, Role(row[0]))

    def issue_token(self, username: str, ttl_s: float, label: str = "") -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._now()
        expires = now + int(ttl_s * NS)
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens VALUES (?,?,?,?,?)",
                (_token_hash(token), username, label, now, expires),
            )
            self._db.execute("DELETE FROM tokens WHERE expires_ns <= ?", (now,))
        return IssuedToken(token, username, expires)

    def verify_token(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT u.username, u.role, t.expires_ns FROM tokens t JOIN users u "
                "ON u.username = t.username WHERE t.token_hash = ?",
                (_token_hash(token),),
            ).fetchone()
        if row is None or row[2] <= self._now():
            return None
        return User(row[0], Role(row[1]))

    def revoke_token(self, token: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM tokens WHERE token_hash = ?", (_token_hash(token),))
        return cur.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


class LoginThrottle:
    """Refuse password attempts for a username after ``limit`` failures within ``window_s``.

    Slows online guessing through the API's token and Basic paths; a success clears the count.
    """

    def __init__(self, limit: int = 10, window_s: float = 300.0, clock: object = time.monotonic):
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, username: str) -> bool:
        now = float(self._clock())  # type: ignore[operator]
        with self._lock:
            recent = [t for t in self._failures.get(username, []) if now - t < self.window_s]
            self._failures[username] = recent
            return len(recent) >= self.limit

    def record(self, username: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failures.pop(username, None)
            else:
                self._failures.setdefault(username, []).append(float(self._clock()))  # type: ignore[operator]


def ensure_admin(store: UserStore, password: str | None = None) -> str | None:
    """Create ``admin`` when there are no users yet.

    With ``password`` (the entry point reads ``PLANTWATCH_ADMIN_PASSWORD``) that is the password;
    without, a one-time password is generated and returned for the caller to print once. Returns
    None when users already exist (nothing is created or printed again).
    """
    if store.count() > 0:
        return None
    generated = password is None
    secret = secrets.token_urlsafe(15) if password is None else password
    store.create_user("admin", secret, Role.ADMIN)
    log.warning("no users found: created user 'admin' (%s)", "generated" if generated else "env")
    return secret if generated else None
