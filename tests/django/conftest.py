"""Fixtures of the storage conformance tests: each storage in turn, on a clock the test moves.

Both storages accept a clock, so leases expire and kept events age when the
test says so, never because the machine was slow.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workflows_app.core.memory import InMemoryStorage
from workflows_app.core.storage import Storage
from workflows_app.storage import DjangoStorage


class Clock:
    """Milliseconds, moved by the test (``clock.now += ...``)."""

    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "django"])
def storage(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Storage]:
    yield InMemoryStorage(clock=clock) if request.param == "memory" else DjangoStorage(clock=clock)
