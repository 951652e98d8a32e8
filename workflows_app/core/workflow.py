"""The workflow builder: chain entries, then ``commit()`` to freeze and register.

A committed workflow is a definition: its entries never change, and its
:attr:`Workflow.definition_hash` names that exact graph. Building on after a
commit starts a new draft that must be committed again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Unpack

from pydantic import BaseModel

from . import runtime
from .errors import (
    ExecutionFlowNotDefinedError,
    InputValidationError,
    UncommittedWorkflowError,
    WorkflowDefinitionError,
)
from .graph import (
    COMPONENT_WORKFLOW,
    BranchEntry,
    Condition,
    Entry,
    ForeachEntry,
    LoopEntry,
    ParallelEntry,
    SleepEntry,
    SleepSpec,
    SleepUntilSpec,
    StepEntry,
    WorkflowDefinition,
    definition_hash,
    entry_components,
    entry_ids,
)
from .limits import Limit, check_workflow_limit
from .mapping import mapping_step, stable_id
from .retry import Duration, RetryPolicy, timeout_seconds
from .run import Run, RunOptions, acreate_run, create_run
from .schedules import Schedule
from .steps import Step, tool_step
from .stored_runs import RunList, StoredRun, aget_stored_run, alist_stored_runs
from .validation import validate

Callback = Callable[[Any], Any]


RetryConfig = RetryPolicy
"""The spec's name of a workflow's retry policy (``retry_config=``); the same class."""


class Workflow:
    """A workflow definition; also usable as a step of another workflow."""

    component = COMPONENT_WORKFLOW
    resume_schema: type[BaseModel] | None = None
    suspend_schema: type[BaseModel] | None = None
    retries: int | RetryPolicy | None = None

    def __init__(
        self,
        id: str,
        *,
        input_schema: type[BaseModel] | None = None,
        output_schema: type[BaseModel] | None = None,
        state_schema: type[BaseModel] | None = None,
        description: str = "",
        retry_config: RetryPolicy | None = None,
        timeout: Duration | None = None,
        on_start: Callback | None = None,
        on_finish: Callback | None = None,
        on_error: Callback | None = None,
        validate_inputs: bool = True,
        should_persist_snapshot: Callable[[dict[str, Any]], bool] | None = None,
        steps: Sequence[Step] = (),
        schedule: Schedule | None = None,
        concurrency: Limit | None = None,
    ) -> None:
        if not id:
            raise WorkflowDefinitionError("A workflow needs a non-empty id")
        self.id = id
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.state_schema = state_schema
        self.description = description
        self.retry_config = retry_config or RetryPolicy()
        self.timeout = timeout_seconds(timeout, f"Workflow {id!r}: timeout")
        self.on_start = on_start
        self.on_finish = on_finish
        self.on_error = on_error
        self.validate_inputs = validate_inputs
        self.should_persist_snapshot = should_persist_snapshot
        self.declared_steps = tuple(steps)
        if schedule is not None and not isinstance(schedule, Schedule):
            raise WorkflowDefinitionError("schedule= takes a Schedule(cron=..., timezone=..., ...)")
        self.schedule = schedule
        check_workflow_limit(id, concurrency)
        self.concurrency = concurrency
        self.entries: tuple[Entry, ...] = ()
        self._draft: list[Entry] = []
        self._dirty = False
        self._nested: dict[str, WorkflowDefinition] | None = None
        self._steps: dict[str, Step | WorkflowDefinition] | None = None
        self.definition_hash = ""

    def __repr__(self) -> str:
        return f"<Workflow {self.id!r}>"

    # -- building -----------------------------------------------------------
    def then(self, component: Step | Workflow) -> Workflow:
        return self._add(StepEntry(_component(component)))

    def parallel(self, steps: Iterable[Step | Workflow], *, allow_failure: bool = False) -> Workflow:
        return self._add(ParallelEntry(tuple(_component(s) for s in steps), allow_failure))

    def branch(self, branches: Iterable[tuple[Condition, Step | Workflow]]) -> Workflow:
        pairs = tuple((cond, _component(s)) for cond, s in branches)
        if not all(callable(cond) for cond, _ in pairs):
            raise WorkflowDefinitionError("Every branch condition must be callable")
        return self._add(BranchEntry(pairs))

    def dowhile(self, component: Step | Workflow, condition: Condition) -> Workflow:
        return self._add(LoopEntry(_component(component), condition, until=False))

    def dountil(self, component: Step | Workflow, condition: Condition) -> Workflow:
        return self._add(LoopEntry(_component(component), condition, until=True))

    def foreach(self, component: Step | Workflow, *, concurrency: int = 1) -> Workflow:
        if concurrency < 1:
            raise WorkflowDefinitionError("foreach concurrency must be >= 1")
        return self._add(ForeachEntry(_component(component), concurrency))

    def map(
        self,
        spec: Mapping[str, Any] | Callable[..., Any],
        *,
        id: str | None = None,
    ) -> Workflow:
        step_id = id or stable_id("mapping", self.id, len(self._draft))
        return self._add(StepEntry(mapping_step(spec, step_id)))

    def tool(self, tool: Any) -> Workflow:
        return self.then(tool_step(tool))

    def sleep(self, duration: SleepSpec) -> Workflow:
        return self._add(SleepEntry(stable_id("sleep", self.id, len(self._draft)), duration=duration))

    def sleep_until(self, until: SleepUntilSpec) -> Workflow:
        entry_id = stable_id("sleep_until", self.id, len(self._draft))
        return self._add(SleepEntry(entry_id, until=until))

    def wait_for_event(self, *args: Any, **kwargs: Any) -> Workflow:
        raise WorkflowDefinitionError("waitForEvent has been removed. Use suspend and resume instead.")

    def _add(self, entry: Entry) -> Workflow:
        if not self._dirty:
            self._draft = list(self.entries)
            self._dirty = True
        self._draft.append(entry)
        self._nested = self._steps = None
        return self

    def commit(self) -> Workflow:
        """Freeze the draft into the definition and register the workflow by id."""
        entries = tuple(self._draft) if self._dirty else self.entries
        _check_unique_ids(self.id, entries)
        self._check_schedule()
        self.entries = entries
        self._dirty = False
        self._nested = self._steps = None
        self.definition_hash = definition_hash(entries, {"id": self.id})
        runtime.register_workflow(self)
        return self

    def _check_schedule(self) -> None:
        """A declared schedule's input must be valid input: found now, not at its first tick."""
        if self.schedule is not None and self.validate_inputs:
            try:
                validate(self.input_schema, self.schedule.input, InputValidationError)
            except InputValidationError as exc:
                raise WorkflowDefinitionError(
                    f"The schedule of workflow {self.id!r} has invalid input: {exc}"
                ) from None

    # -- introspection ------------------------------------------------------
    @property
    def committed(self) -> bool:
        return bool(self.entries) and not self._dirty

    @property
    def steps(self) -> dict[str, Step | WorkflowDefinition]:
        """Every step of this workflow's own level, by id."""
        if self._steps is not None:
            return self._steps
        found: dict[str, Step | WorkflowDefinition] = {s.id: s for s in self.declared_steps}
        for entry in self._draft if self._dirty else self.entries:
            for component in entry_components(entry):
                found[component.id] = component
        if not self._dirty:
            self._steps = found
        return found

    def check_runnable(self) -> None:
        if not self.entries and not self._draft:
            raise ExecutionFlowNotDefinedError()
        if self._dirty or not self.entries:
            raise UncommittedWorkflowError()

    def nested_workflows(self) -> dict[str, WorkflowDefinition]:
        """This workflow and every workflow nested in it, by id (computed once per commit)."""
        if self._nested is not None:
            return self._nested
        found: dict[str, WorkflowDefinition] = {self.id: self}
        for entry in self.entries:
            for component in entry_components(entry):
                if isinstance(component, Workflow):
                    found.update(component.nested_workflows())
        self._nested = found
        return found

    def as_tool(
        self, *, name: str | None = None, description: str | None = None, engine: str | None = None
    ) -> Any:
        """This workflow as a pydantic-ai tool an agent can call (see ``core.agents.workflow_tool``)."""
        from .agents import workflow_tool

        self.check_runnable()
        return workflow_tool(self, name=name, description=description, engine=engine)

    # -- runs (see run.py) --------------------------------------------------
    async def acreate_run(self, **options: Unpack[RunOptions]) -> Run:
        """A run of this workflow; with the ``run_id`` of a stored run, that run as stored.

        See :class:`~workflows_app.core.run.RunOptions`.
        """
        return await acreate_run(self, **options)

    def create_run(self, **options: Unpack[RunOptions]) -> Run:
        """A run of this workflow, without reading storage (``acreate_run`` reads a stored run)."""
        return create_run(self, **options)

    async def aget_run(
        self, run_id: str, fields: Sequence[str] | None = None, with_nested_workflows: bool = True
    ) -> StoredRun | None:
        return await aget_stored_run(self, run_id, fields, with_nested_workflows)

    async def alist_runs(self, **filters: Any) -> RunList:
        return await alist_stored_runs(self, **filters)

    async def adelete_run(self, run_id: str) -> bool:
        return await runtime.get_storage().adelete_run(run_id)


def _component(component: Any) -> Step | Workflow:
    if isinstance(component, Step | Workflow):
        return component
    return tool_step(component)


def _check_unique_ids(workflow_id: str, entries: Sequence[Entry]) -> None:
    seen: dict[str, Any] = {}
    for entry in entries:
        components: tuple[Any, ...] = entry_components(entry) or (entry,)
        for step_id, component in zip(entry_ids(entry), components, strict=True):
            if step_id in seen and seen[step_id] is not component:
                raise WorkflowDefinitionError(
                    f"Workflow {workflow_id!r} uses the id {step_id!r} for two different steps; "
                    "use clone_step() to give one of them a new id"
                )
            seen[step_id] = component


def create_workflow(id: str, **options: Any) -> Workflow:
    """Start a workflow definition; chain entries and finish with ``.commit()``."""
    return Workflow(id, **options)


def clone_workflow(original: Workflow, *, id: str) -> Workflow:
    """The same committed flow under another id (for using one workflow twice)."""
    clone = Workflow(
        id,
        input_schema=original.input_schema,
        output_schema=original.output_schema,
        state_schema=original.state_schema,
        description=original.description,
        retry_config=original.retry_config,
        timeout=original.timeout,
        on_start=original.on_start,
        on_finish=original.on_finish,
        on_error=original.on_error,
        validate_inputs=original.validate_inputs,
        should_persist_snapshot=original.should_persist_snapshot,
        concurrency=original.concurrency,
    )
    clone._draft = list(original.entries)
    clone._dirty = True
    return clone.commit()
