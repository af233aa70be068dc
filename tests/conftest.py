"""Shared fixtures: paths to ../shared/data (skipping with the reason when absent) and sample labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthguard.label.model import AigcLabel

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PRODUCER = "001191440300708461136T1XGW3"
PRODUCER_2 = "001191110102MACQD9K64010000"
PROPAGATOR = "00119144030008867405X220001"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test saying why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data beside the repository is absent)")
    return path


@pytest.fixture
def label() -> AigcLabel:
    """A valid first-write label."""
    return AigcLabel.first_write(PRODUCER, "sg-test-0001")


@pytest.fixture
def label2() -> AigcLabel:
    """A second, different valid label."""
    return AigcLabel.first_write(PRODUCER_2, "sg-test-0002")
