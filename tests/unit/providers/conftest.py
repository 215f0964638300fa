"""Fixtures of the provider tests."""

from __future__ import annotations

import pytest

from tests.unit.providers.support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
