"""Shared fixtures. Broker fixtures start real brokers on free loopback ports."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.brokers"]

REPO = Path(__file__).resolve().parent.parent


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
