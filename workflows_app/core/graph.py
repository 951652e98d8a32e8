"""The compiled workflow graph: immutable entries that ``plan`` walks.

A workflow is a sequence of entries; composite entries hold steps, and a step may
itself be a workflow (a nested run frame). Nothing here runs user code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .context import StepContext
    from .limits import Limit
    from .retry import RetryPolicy
    from .schedules import Schedule
    from .steps import Step


COMPONENT_WORKFLOW = "WORKFLOW"
Condition = Callable[["StepContext"], bool | Awaitable[bool]]
SleepSpec = float | int | timedelta | Callable[["StepContext"], Any]
SleepUntilSpec = datetime | Callable[["StepContext"], Any]


class WorkflowDefinition(Protocol):
    """A committed workflow as the graph, the planner, runs and engines see it.

    The builder (:class:`~workflows_app.core.workflow.Workflow`) sits on top of
    the core and creates runs; everything below it, which the runs it creates
    use, knows a workflow only through this protocol, so that no import leads
    back up to the builder.
    """

    id: str
    component: str
    description: str
    entries: tuple[Entry, ...]
    definition_hash: str
    input_schema: type[BaseModel] | None
    output_schema: type[BaseModel] | None
    state_schema: type[BaseModel] | None
    resume_schema: type[BaseModel] | None
    suspend_schema: type[BaseModel] | None
    retries: int | RetryPolicy | None
    retry_config: RetryPolicy
    timeout: float | None
    validate_inputs: bool
    on_start: Callable[[Any], Any] | None
    on_finish: Callable[[Any], Any] | None
    on_error: Callable[[Any], Any] | None
    should_persist_snapshot: Callable[[dict[str, Any]], bool] | None
    schedule: Schedule | None
    concurrency: Limit | None

    def check_runnable(self) -> None: ...

    @property
    def steps(self) -> Mapping[str, Step | WorkflowDefinition]: ...

    def nested_workflows(self) -> dict[str, WorkflowDefinition]: ...


if TYPE_CHECKING:
    Component: TypeAlias = Step | WorkflowDefinition


def sleep_value(spec: Any) -> Any:
    """A sleep's duration or instant as JSON: seconds for a ``timedelta``, epoch ms for a ``datetime``.

    Both a spec given when the workflow is defined and the value a sleep function
    returns go through here, so the planner parses one form only.
    """
    if isinstance(spec, datetime):
        return int(spec.timestamp() * 1000)
    if isinstance(spec, timedelta):
        return spec.total_seconds()
    return spec


@dataclass(frozen=True, eq=False)
class StepEntry:
    step: Component


@dataclass(frozen=True, eq=False)
class ParallelEntry:
    steps: tuple[Component, ...]
    allow_failure: bool = False


@dataclass(frozen=True, eq=False)
class BranchEntry:
    branches: tuple[tuple[Condition, Component], ...]

    @property
    def steps(self) -> tuple[Component, ...]:
        return tuple(component for _, component in self.branches)


@dataclass(frozen=True, eq=False)
class LoopEntry:
    step: Component
    condition: Condition
    until: bool  # dountil stops when the condition is true; dowhile when it is false


@dataclass(frozen=True, eq=False)
class ForeachEntry:
    step: Component
    concurrency: int = 1


@dataclass(frozen=True, eq=False)
class SleepEntry:
    id: str
    duration: SleepSpec | None = None
    until: SleepUntilSpec | None = None


Entry = StepEntry | ParallelEntry | BranchEntry | LoopEntry | ForeachEntry | SleepEntry
E = TypeVar("E", StepEntry, ParallelEntry, BranchEntry, LoopEntry, ForeachEntry, SleepEntry)


def expect(entry: Entry, kind: type[E]) -> E:
    """``entry`` as the kind the caller's state says it is; a mismatch is a corrupt run state."""
    if not isinstance(entry, kind):
        raise TypeError(f"Expected a {kind.__name__}, found {type(entry).__name__}")
    return entry


def entry_components(entry: Entry) -> tuple[Component, ...]:
    """The steps (or nested workflows) an entry can run, in graph order."""
    if isinstance(entry, StepEntry | LoopEntry | ForeachEntry):
        return (entry.step,)
    if isinstance(entry, ParallelEntry | BranchEntry):
        return entry.steps
    return ()


def entry_ids(entry: Entry) -> tuple[str, ...]:
    if isinstance(entry, SleepEntry):
        return (entry.id,)
    return tuple(component.id for component in entry_components(entry))


def describe_entry(entry: Entry) -> dict[str, Any]:
    """A JSON description of an entry: for the definition hash, REST and the admin graph."""
    kind = {
        StepEntry: "step",
        ParallelEntry: "parallel",
        BranchEntry: "conditional",
        LoopEntry: "loop",
        ForeachEntry: "foreach",
        SleepEntry: "sleep",
    }[type(entry)]
    data: dict[str, Any] = {"type": kind}
    if isinstance(entry, SleepEntry):
        data["id"] = entry.id
        data["until"] = entry.until is not None
        return data
    data["steps"] = [describe_component(c) for c in entry_components(entry)]
    if isinstance(entry, LoopEntry):
        data["loop"] = "dountil" if entry.until else "dowhile"
    if isinstance(entry, ForeachEntry):
        data["concurrency"] = entry.concurrency
    if isinstance(entry, ParallelEntry):
        data["allow_failure"] = entry.allow_failure
    return data


def is_workflow(component: Any) -> bool:
    """Whether a component is a nested workflow (a frame of its own), not a step.

    Asked by the component's kind, so that the graph and the planner, which sit
    below the workflow builder, never import it.
    """
    return getattr(component, "component", None) == COMPONENT_WORKFLOW


def describe_component(component: Component) -> dict[str, Any]:
    data: dict[str, Any] = {"id": component.id, "component": component.component}
    if is_workflow(component):
        data["graph"] = [describe_entry(e) for e in component.entries]  # type: ignore[union-attr]
    for name in ("input_schema", "output_schema", "resume_schema", "suspend_schema"):
        schema = getattr(component, name, None)
        data[name] = schema.model_json_schema() if schema is not None else None
    return data


def definition_hash(entries: tuple[Entry, ...], extra: dict[str, Any]) -> str:
    """A stable content hash: the same code gives the same hash in every process."""
    text = json.dumps(
        {"graph": [describe_entry(e) for e in entries], **extra},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]
