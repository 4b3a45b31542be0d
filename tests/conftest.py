"""Shared fixtures. Broker fixtures start real brokers on free loopback ports."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.brokers"]

REPO = Path(__file__).resolve().parent.parent

# One XLA compilation cache for the whole test run, in-process and in the plantwatch train /
# serve subprocesses the tests start: the same tiny models compile once, not in every test.
XLA_CACHE = REPO / "tests" / "artifacts" / "xla-cache"
os.environ.setdefault("PLANTWATCH_XLA_CACHE", str(XLA_CACHE))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.environ["PLANTWATCH_XLA_CACHE"])


def _shared_data_candidates() -> list[Path]:
    """Where the real datasets may be: $PLANTWATCH_SHARED_DATA, then ``shared/data`` beside the
    checkout or beside any folder above it (a clone made elsewhere on the same machine), then the
    workplace's fixed location."""
    found = [Path(v) for v in [os.environ.get("PLANTWATCH_SHARED_DATA")] if v]
    found += [parent / "shared" / "data" for parent in REPO.parents]
    found.append(Path("/work/shared/data"))
    return found


SHARED_DATA = next(
    (p for p in _shared_data_candidates() if p.is_dir()), REPO.parent / "shared" / "data"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real public datasets. Absent in a user's own clone: say so plainly."""
    if not SHARED_DATA.is_dir():
        tried = ", ".join(str(p) for p in _shared_data_candidates())
        pytest.fail(f"real datasets not found (tried {tried}); set PLANTWATCH_SHARED_DATA")
    return SHARED_DATA
