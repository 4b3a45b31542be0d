"""Users, roles, scrypt passwords and expiring API tokens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from plant.users import (
    Permission,
    Role,
    UserError,
    UserStore,
    ensure_admin,
)

S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now_ns = 1_795_000_000 * S

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> UserStore:
    s = UserStore(tmp_path / "users.sqlite", clock=clock)
    yield s
    s.close()


def test_password_is_salted_scrypt_never_stored_plain(store: UserStore) -> None:
    store.create_user("olga", "correct horse battery", "operator")
    store.create_user("mia", "correct horse battery", "engineer")
    assert store.authenticate("olga", "correct horse battery").role is Role.OPERATOR
    assert store.authenticate("olga", "wrong password!!") is None
    assert store.authenticate("nobody", "correct horse battery") is None
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT salt, pw_hash FROM users").fetchall()
    assert rows[0][0] != rows[1][0] and rows[0][1] != rows[1][1]  # salted
    assert all(b"correct horse" not in r[1] for r in rows)


def test_roles_are_cumulative() -> None:
    from plant.users import User

    op, eng, adm = User("a", Role.OPERATOR), User("b", Role.ENGINEER), User("c", Role.ADMIN)
    assert op.can(Permission.ACKNOWLEDGE) and op.can(Permission.SHELVE)
    assert not op.can(Permission.MODELS) and not op.can(Permission.USERS)
    assert eng.can(Permission.MODELS) and not eng.can(Permission.USERS)
    assert adm.can(Permission.USERS) and adm.can(Permission.MODELS) and adm.can(Permission.VIEW)


def test_bad_users_are_refused(store: UserStore) -> None:
    with pytest.raises(UserError, match="at least"):
        store.create_user("olga", "short", "operator")
    with pytest.raises(UserError, match="role"):
        store.create_user("olga", "long enough pw", "superuser")
    with pytest.raises(UserError, match="username"):
        store.create_user("bad name", "long enough pw", "operator")
    store.create_user("olga", "long enough pw", "operator")
    with pytest.raises(UserError, match="exists"):
        store.create_user("olga", "long enough pw", "admin")


def test_tokens_are_random_hashed_and_expire(store: UserStore, clock: Clock) -> None:
    store.create_user("olga", "long enough pw", "operator")
    issued = store.issue_token("olga", ttl_s=60)
    other = store.issue_token("olga", ttl_s=60)
    assert issued.token != other.token and len(issued.token) > 40
    assert store.verify_token(issued.token).username == "olga"
    with sqlite3.connect(store.path) as db:
        stored = [r[0] for r in db.execute("SELECT token_hash FROM tokens")]
    assert issued.token not in stored and len(stored) == 2
    clock.now_ns += 61 * S
    assert store.verify_token(issued.token) is None
    assert store.verify_token("pwt_forged") is None and store.verify_token("") is None


def test_password_change_and_delete_revoke_tokens(store: UserStore) -> None:
    store.create_user("olga", "long enough pw", "operator")
    token = store.issue_token("olga", 600).token
    store.set_password("olga", "another long pw")
    assert store.verify_token(token) is None
    token = store.issue_token("olga", 600).token
    assert store.revoke_token(token) and store.verify_token(token) is None
    token = store.issue_token("olga", 600).token
    assert store.delete_user("olga") and store.verify_token(token) is None


def test_first_start_creates_admin_from_env_password(store: UserStore) -> None:
    assert ensure_admin(store, "from the environment") is None
    assert store.authenticate("admin", "from the environment").role is Role.ADMIN
    assert ensure_admin(store, "something else entirely") is None  # only once
    assert store.authenticate("admin", "something else entirely") is None


def test_first_start_generates_a_one_time_password(store: UserStore) -> None:
    generated = ensure_admin(store)
    assert generated and len(generated) >= 16
    assert store.authenticate("admin", generated).role is Role.ADMIN
    assert ensure_admin(store) is None
