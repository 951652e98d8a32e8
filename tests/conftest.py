"""Fixtures shared by every test directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from django.db import connections


@pytest.fixture(scope="session", autouse=True)
def _drop_leftover_sessions(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Close what still holds the PostgreSQL test database before it is dropped.

    Worker processes forked by contract, admin and e2e tests hold connections of
    their own; one that outlives its test (a child still exiting) would make the
    drop fail with "being accessed by other users" after every test passed.
    Torn down before ``django_db_setup`` (it depends on it), so it runs first.
    """
    yield
    with django_db_blocker.unblock():
        connection = connections["default"]
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def _close_executor_connections() -> Iterator[None]:
    """Close the database connections of the thread that runs async ORM calls.

    The async storage runs its queries in asgiref's thread-sensitive executor,
    whose connections outlive the test otherwise and keep PostgreSQL from
    dropping the test database.
    """
    yield
    asyncio.run(sync_to_async(connections.close_all)())


@pytest.fixture(autouse=True)
def _fresh_channel_layers() -> Iterator[None]:
    """Give each test its own channel layer instances.

    Each async test runs in its own event loop, and channels_redis keeps
    asyncio locks bound to the loop that first used them: a layer shared with
    an earlier test's loop fails in the next one. A real process has one loop.
    """
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
async def _stop_leftover_tasks() -> AsyncIterator[None]:
    """Cancel what a test left running (embedded workers, watchers) before its loop closes.

    Closing the loop cancels them too, but in one pass with no limit: a
    channels_redis receive cancelled at the wrong moment can then keep the
    loop open. Cancelled here, up to three times (redis-py can hide one
    cancellation), they get a few seconds and the loop a clean close.
    """
    yield
    for _ in range(3):
        leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if not leftovers:
            return
        for task in leftovers:
            task.cancel()
        await asyncio.wait(leftovers, timeout=2)


@pytest.fixture(params=["default", "evented"])
def workflow_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each engine in turn, by name; on a bus that crosses processes, evented steps run in a worker process.

    A sync caller's event loop (a view's, a command's) ends with the call, and an
    embedded worker with it: a real deployment has worker processes, and so does
    the test.
    """
    from tests.contract.processes import ForkedWorkers
    from workflows_app.core import runtime

    name = str(request.param)
    if name != "evented" or runtime.get_bus().local:
        yield name
        return
    saved = runtime.get_engine_options()
    runtime.configure(
        engine_options={**saved, "evented": {**saved.get("evented", {}), "inline_when_no_worker": False}}
    )
    runtime.reset_storage()
    workers = ForkedWorkers(1)
    # Forked here, from the main thread: Linux ends a child with the thread that forked it
    # (PR_SET_PDEATHSIG), and a sync test's engine calls run in short-lived threads.
    asyncio.run(workers.aensure())
    try:
        yield name
    finally:
        workers.stop()
        runtime.configure(engine_options=saved)
        runtime.reset_storage()


@pytest.fixture(scope="session", autouse=True)
def _flush_postgresql_by_delete() -> Iterator[None]:
    """Empty PostgreSQL's tables between transactional tests with DELETE, not TRUNCATE.

    TRUNCATE gives every table and index a new file, which costs far more than
    deleting the few rows a test wrote: it was most of the PostgreSQL leg's time.
    Django's foreign keys are deferrable, so the order of the deletes does not matter
    inside the flush's transaction. Sequences are still reset by TRUNCATE when asked.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: Any, style: Any, tables: Any, *, reset_sequences: bool = False, allow_cascade: bool = False
    ) -> list[str]:
        if reset_sequences or not tables:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return [
            "SET CONSTRAINTS ALL DEFERRED;",
            *(f"DELETE FROM {self.quote_name(table)};" for table in tables),  # noqa: S608 (table names)
        ]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.sql_flush = truncate  # type: ignore[method-assign]
