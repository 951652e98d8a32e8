"""The contract harness: every behaviour test runs through it, on every engine.

Like the spec's own harness, ``execute`` starts a run through ``run.astream()``,
drains the events and returns the result; ``resume`` and ``time_travel`` build a
fresh ``Run`` object with fresh engine instances, so they only see what was
persisted. Storage is the Django ORM storage on the database of ``DATABASE_URL``.

On a bus that crosses processes (``REDIS_URL``: PostgreSQL + Redis), the evented
engine's steps run in worker processes forked from the test process for each test
(``processes.py``), never in the test process itself: it only starts, resumes and
watches runs, with no inline fallback. What steps record for the test goes
through ``calls`` and ``shared_list()``, which every process reaches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from workflows_app import Run, Workflow, WorkflowResult
from workflows_app.core import runtime
from workflows_app.engines import ENGINES as ENGINE_CLASSES
from workflows_app.engines.evented import EventedEngine
from workflows_app.models import WorkerHeartbeat
from workflows_app.testing import acrash

from . import processes
from .processes import ForkedWorkers, StateManager, start_manager, stop_manager

ENGINES = list(ENGINE_CLASSES)  # the package defines the engines; every suite runs on each


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/contract/" in str(item.fspath):
            item.add_marker(pytest.mark.django_db(transaction=True))


class Harness:
    """How a contract test drives runs; one per test and engine."""

    def __init__(self, engine: str, workers: ForkedWorkers | None = None) -> None:
        self.engine = engine
        self.events: list[dict[str, Any]] = []
        self.workers = workers

    def assert_raised(self, actual: Any, raised: BaseException) -> None:
        """``actual`` is the error a step raised: the object itself where the step ran in
        this process; from a worker process, the error rebuilt from its stored form."""
        if self.workers is None:
            assert actual is raised
            return
        assert isinstance(actual, Exception)
        assert getattr(actual, "name", type(actual).__name__) == type(raised).__name__
        assert str(actual) == str(raised)

    def settled(self) -> None:
        """A run call returned: replay what worker processes logged, for ``caplog``."""
        if self.workers is not None:
            self.workers.replay_logs()

    async def acrash(self, run: Run) -> None:
        """Stop driving ``run`` without writing anything, as a killed process would.

        With worker processes they are killed (``SIGKILL``) and the next run,
        resume or restart forks fresh ones; otherwise this process's own
        workers drop the run (``testing.acrash``).
        """
        if self.workers is not None:
            killed = self.workers.stop()
            # As a supervisor that saw them die would: otherwise their heartbeats would
            # count them alive for three more beats, and a restart would be refused as held.
            await WorkerHeartbeat.objects.filter(pid__in=killed).adelete()
        else:
            await acrash(run)

    def fresh_process(self) -> None:
        """Forget every engine instance, as if the next call came from a new process."""
        runtime.reset_storage()

    async def execute(
        self,
        workflow: Workflow,
        input_data: Any = None,
        *,
        run_id: str | None = None,
        resource_id: str | None = None,
        **options: Any,
    ) -> WorkflowResult:
        run = await workflow.acreate_run(run_id=run_id, resource_id=resource_id, engine=self.engine)
        stream = run.astream(input_data, **options)
        self.events = [event async for event in stream]
        try:
            return await stream.result()
        finally:
            self.settled()

    async def start(self, workflow: Workflow, input_data: Any = None, **options: Any) -> WorkflowResult:
        """Start through ``run.astart`` instead of a stream."""
        run_id = options.pop("run_id", None)
        resource_id = options.pop("resource_id", None)
        run = await workflow.acreate_run(run_id=run_id, resource_id=resource_id, engine=self.engine)
        return await run.astart(input_data, **options)

    async def resume(
        self, workflow: Workflow, run_id: str, resume_data: Any = None, **options: Any
    ) -> WorkflowResult:
        self.fresh_process()
        run = await workflow.acreate_run(run_id=run_id, engine=self.engine)
        return await run.aresume(resume_data, **options)

    async def stream(
        self, workflow: Workflow, input_data: Any = None, **options: Any
    ) -> tuple[list[dict[str, Any]], WorkflowResult]:
        run_id = options.pop("run_id", None)
        run = await workflow.acreate_run(run_id=run_id, engine=self.engine)
        stream = run.astream(input_data, **options)
        events = [event async for event in stream]
        return events, await stream.result()

    async def resume_stream(
        self, workflow: Workflow, run_id: str, resume_data: Any = None, **options: Any
    ) -> tuple[list[dict[str, Any]], WorkflowResult]:
        self.fresh_process()
        run = await workflow.acreate_run(run_id=run_id, engine=self.engine)
        stream = run.aresume_stream(resume_data, **options)
        events = [event async for event in stream]
        return events, await stream.result()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _worker_processes() -> bool:
    """Whether evented steps run in forked worker processes: on a bus that crosses processes."""
    return not runtime.get_bus().local


@pytest.fixture
def harness(engine: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    if engine != "evented" or not _worker_processes():
        runtime.reset_storage()
        yield Harness(engine)
        runtime.reset_storage()
        return
    saved = runtime.get_engine_options()
    evented = {**saved.get("evented", {}), "inline_when_no_worker": False}
    runtime.configure(engine_options={**saved, "evented": evented})
    runtime.reset_storage()
    workers = ForkedWorkers()
    monkeypatch.setattr(EventedEngine, "aready", workers.before(EventedEngine.aready))
    monkeypatch.setattr(processes, "sharing", True)
    try:
        yield Harness(engine, workers)
    finally:
        workers.stop()
        runtime.configure(engine_options=saved)
        runtime.reset_storage()


class Calls:
    """Counts calls of a step's user code, the way the spec counts mock calls.

    With worker processes the counts live in a manager process that every
    worker reaches; otherwise in this object.
    """

    def __init__(self, shared: Any = None) -> None:
        self._shared = shared
        self._counts: dict[str, int] = {}
        self._inputs: dict[str, list[Any]] = {}

    def hit(self, name: str, data: Any = None) -> None:
        if self._shared is not None:
            self._shared.hit(name, data)
            return
        self._counts[name] = self._counts.get(name, 0) + 1
        self._inputs.setdefault(name, []).append(data)

    @property
    def counts(self) -> dict[str, int]:
        return self._shared.snapshot()[0] if self._shared is not None else self._counts

    @property
    def inputs(self) -> dict[str, list[Any]]:
        return self._shared.snapshot()[1] if self._shared is not None else self._inputs

    def __getitem__(self, name: str) -> int:
        return self.counts.get(name, 0)


@pytest.fixture(scope="session", autouse=True)
def state_manager() -> Iterator[StateManager | None]:
    if not _worker_processes():
        yield None
        return
    yield start_manager()
    stop_manager()


@pytest.fixture
def calls(state_manager: StateManager | None, engine: str) -> Calls:
    if state_manager is None or engine != "evented":
        return Calls()
    return Calls(state_manager.CallsState())  # type: ignore[attr-defined]
