"""The contract harness: every behaviour test runs through it, on every engine.

Like the spec's own harness, ``execute`` starts a run through ``run.astream()``,
drains the events and returns the result; ``resume`` and ``time_travel`` build a
fresh ``Run`` object with fresh engine instances, so they only see what was
persisted. Storage is the Django ORM storage on the database of ``DATABASE_URL``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from workflows_app import Workflow, WorkflowResult
from workflows_app.core import runtime

ENGINES = ["default", "evented"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/contract/" in str(item.fspath):
            item.add_marker(pytest.mark.django_db(transaction=True))


class Harness:
    """How a contract test drives runs; one per test and engine."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.events: list[dict[str, Any]] = []

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
        return await stream.result()

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


@pytest.fixture
def harness(engine: str) -> Iterator[Harness]:
    runtime.reset_storage()
    yield Harness(engine)
    runtime.reset_storage()


class Calls:
    """Counts calls of a step's user code, the way the spec counts mock calls."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.inputs: dict[str, list[Any]] = {}

    def hit(self, name: str, data: Any = None) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        self.inputs.setdefault(name, []).append(data)

    def __getitem__(self, name: str) -> int:
        return self.counts.get(name, 0)


@pytest.fixture
def calls() -> Calls:
    return Calls()
