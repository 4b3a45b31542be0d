"""Shared fixtures. Broker fixtures start real brokers on free loopback ports."""

from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.brokers"]

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real public datasets. Absent in a user's own clone: say so plainly."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real datasets not found at {SHARED_DATA} (they live beside the project)")
    return SHARED_DATA
