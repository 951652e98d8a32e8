"""Helpers for testing workflows, in this project and in users' own test suites."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .core import runtime
from .core.memory import InMemoryStorage
from .core.run import Run


def use_memory_storage() -> InMemoryStorage:
    """Run workflows on a fresh in-memory storage (no database) until reconfigured."""
    storage = InMemoryStorage()
    runtime.configure(storage_factory=lambda: storage)
    return storage


async def awaituntil(predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.005) -> None:
    """Poll ``predicate`` until it is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def acrash(run: Run) -> None:
    """Make this process stop driving ``run`` without writing anything more.

    The stored run stays ``running`` with its running steps recorded as running,
    exactly as if the process had been killed; ``run.arestart()`` continues it.
    """
    engine = run.engine
    engine.abandon(run.run_id)
    await awaituntil(lambda: not engine.holds(run.run_id))
