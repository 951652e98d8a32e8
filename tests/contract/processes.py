"""Evented workers as separate OS processes, for the contract suite on PostgreSQL + Redis.

A contract test defines its workflows inside the test, as closures over its own
state, so a worker started from the command line could not import them. Instead
the harness forks the worker processes from the test process once the test's
workflows exist: each child drops everything it inherited that talks to the
outside (event loop, asgiref's executor thread, database connections, channel
layers, the runtime's engines) and runs ``arun_worker`` as ``manage.py
workflows_worker`` does, on its own connections to PostgreSQL and Redis. The
test process only starts, resumes and watches runs; steps run in the children.

What steps record for the test (the ``calls`` fixture, :func:`shared_list`) is
held by a multiprocessing manager that every process reaches; what workers log at
WARNING and above is replayed in the test process, where ``caplog`` sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import logging
import multiprocessing.util
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.managers import BaseManager
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from channels.layers import channel_layers

from workflows_app.core import runtime
from workflows_app.engines.evented import EventedEngine

WORKERS = 2
_READY_SECONDS = 20.0


class CallsState:
    """The counts behind :class:`~tests.contract.conftest.Calls`, kept in the manager process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.inputs: dict[str, list[Any]] = {}

    def hit(self, name: str, data: Any) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            self.inputs.setdefault(name, []).append(data)

    def snapshot(self) -> tuple[dict[str, int], dict[str, list[Any]]]:
        with self._lock:
            return dict(self.counts), {name: list(values) for name, values in self.inputs.items()}

    def clear(self) -> None:
        with self._lock:
            self.counts.clear()
            self.inputs.clear()


class ListState:
    """The items behind a :class:`SharedList`, kept in the manager process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []

    def append(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)

    def extend(self, items: list[Any]) -> None:
        with self._lock:
            self._items.extend(items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def items(self) -> list[Any]:
        with self._lock:
            return list(self._items)

    def drain(self) -> list[Any]:
        with self._lock:
            items, self._items = self._items, []
            return items


class StateManager(BaseManager):
    """Serves the test's shared state to the test process and its workers."""


StateManager.register("CallsState", CallsState)
StateManager.register("ListState", ListState)
_manager: StateManager | None = None
# Set while a test runs its evented steps in worker processes.
sharing = False


def start_manager() -> StateManager:
    global _manager
    _manager = StateManager()
    _manager.start()
    return _manager


def stop_manager() -> None:
    global _manager
    if _manager is not None:
        _manager.shutdown()
        _manager = None


class SharedList(list):  # type: ignore[type-arg]
    """A list that steps append to in any process and the test reads in its own.

    It subclasses ``list`` so that ``seen == [...]`` and ``[...] == seen`` compare
    the items, wherever they were appended.
    """

    def __init__(self, state: Any) -> None:
        super().__init__()
        self._state = state

    def append(self, item: Any) -> None:
        self._state.append(item)

    def extend(self, items: Any) -> None:
        self._state.extend(list(items))

    def clear(self) -> None:
        self._state.clear()

    def __iadd__(self, items: Any) -> SharedList:
        self.extend(items)
        return self

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("A SharedList only appends, extends and clears")

    insert = pop = remove = sort = reverse = __setitem__ = __delitem__ = __imul__ = _unsupported

    def _items(self) -> list[Any]:
        items: list[Any] = self._state.items()
        return items

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self) -> Any:
        return iter(self._items())

    def __reversed__(self) -> Any:
        return reversed(self._items())

    def __getitem__(self, index: Any) -> Any:
        return self._items()[index]

    def __contains__(self, item: object) -> bool:
        return item in self._items()

    def __eq__(self, other: object) -> bool:
        return self._items() == (list(other) if isinstance(other, list) else other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __bool__(self) -> bool:
        return bool(self._items())

    def __repr__(self) -> str:
        return repr(self._items())

    def count(self, item: Any) -> int:
        return self._items().count(item)

    def index(self, item: Any, *args: Any) -> int:
        return self._items().index(item, *args)

    __hash__ = None  # type: ignore[assignment]


def shared_list() -> list[Any]:
    """A list steps may append to: shared with the worker processes when there are some."""
    if _manager is None or not sharing:
        return []
    return SharedList(_manager.ListState())  # type: ignore[attr-defined]


class ForkedWorkers:
    """Worker processes forked from the test process, refreshed when its workflows change."""

    def __init__(self, count: int = WORKERS) -> None:
        self.count = count
        self.pids: list[int] = []
        self._seen: dict[str, int] = {}
        self._parent = os.getpid()
        self._logs = _manager.ListState() if _manager is not None else None  # type: ignore[attr-defined]

    def before(self, aready: Callable[[EventedEngine], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """``EventedEngine.aready`` that first brings this test's workers up to date."""

        async def aready_with_workers(engine: EventedEngine) -> None:
            await self.aensure()
            await aready(engine)

        return aready_with_workers

    async def aensure(self) -> None:
        """Fork fresh workers if the registered workflows changed since the last fork.

        Inside a worker (a nested run started by a step) nothing is forked.
        """
        if os.getpid() != self._parent:
            return
        seen = {workflow_id: id(wf) for workflow_id, wf in runtime.registered_workflows().items()}
        if seen == self._seen and self.pids:
            return
        self.stop()
        self._seen = seen
        await sync_to_async(_close_connections)()
        self.pids = [_fork(lambda: _worker_main(self._logs)) for _ in range(self.count)]
        await self._await_heartbeats()

    async def _await_heartbeats(self) -> None:
        """Wait until each new worker wrote its first heartbeat, so runs find them alive."""
        storage = runtime.get_storage()
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            since = datetime.now(UTC) - timedelta(seconds=5)
            alive = await storage.alive_workers(since)  # type: ignore[attr-defined]
            if set(self.pids) <= {row["pid"] for row in alive}:
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"The forked workflow workers did not report within {_READY_SECONDS:.0f} s")

    def replay_logs(self) -> None:
        """Log here what the workers logged at WARNING and above, so ``caplog`` sees it."""
        if self._logs is None:
            return
        for fields in self._logs.drain():
            logging.getLogger(fields["name"]).handle(logging.makeLogRecord(fields))

    def stop(self) -> list[int]:
        """Kill the workers (SIGKILL); their pids."""
        killed, self.pids = self.pids, []
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        return killed


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


def _fork(main: Callable[[], None]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        main()
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)
    return 0


class _ForwardLogs(logging.Handler):
    """Hands a worker's log records to the test process (see ``ForkedWorkers.replay_logs``)."""

    def __init__(self, logs: Any) -> None:
        super().__init__(logging.WARNING)
        self.logs = logs

    def emit(self, record: logging.LogRecord) -> None:
        fields = {"name": record.name, "levelno": record.levelno, "levelname": record.levelname}
        self.logs.append({**fields, "msg": record.getMessage(), "exc_text": self.format(record)})


def _worker_main(logs: Any) -> None:
    """Forget the parent's event loop, threads and connections, then run a worker."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    multiprocessing.util._run_after_forkers()  # type: ignore[attr-defined]
    asyncio.events._set_running_loop(None)
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    channel_layers.backends.clear()
    runtime.reset_storage()
    runtime.configure_bus(runtime._bus_factory)
    if logs is not None:
        logging.getLogger().addHandler(_ForwardLogs(logs))
    from workflows_app.worker import arun_worker

    contextvars.Context().run(asyncio.run, arun_worker())


def _die_with_parent() -> None:
    """Have Linux kill this worker if pytest dies without stopping it (``PR_SET_PDEATHSIG``)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
