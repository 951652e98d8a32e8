"""Steps: the unit of user code a workflow runs.

A step is immutable once created; ``clone_step`` makes a copy under another id.
Schemas are pydantic models, checked when the step is defined so that a typo fails
at import instead of hours later in a worker.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, create_model

from .components import get_tool
from .errors import StepInputValidationError, WorkflowDefinitionError
from .limits import Limit, Rate, check_step_limits
from .retry import Duration, RetryPolicy, timeout_seconds
from .validation import validate

if TYPE_CHECKING:
    from .context import StepContext

Execute = Callable[["StepContext"], Any | Awaitable[Any]]
Schema = type[BaseModel] | None

COMPONENT_STEP = "STEP"
COMPONENT_TOOL = "TOOL"
COMPONENT_AGENT = "AGENT"
COMPONENT_MAPPING = "MAPPING"

ComponentAdapter = Callable[..., "Step | None"]
_component_adapters: list[ComponentAdapter] = []


def register_component_adapter(adapter: ComponentAdapter) -> None:
    """Teach :func:`tool_step` another kind of component (``adapter`` answers ``None`` to others).

    Steps sit below the adapters (pydantic-ai's lives in :mod:`.agents`), so the
    package hands them over at import instead of this module importing them.
    """
    if adapter not in _component_adapters:
        _component_adapters.append(adapter)


@dataclass(frozen=True, eq=False)
class Step:
    """A named piece of user code with typed input, output, suspend and resume data."""

    id: str
    execute: Execute
    input_schema: Schema = None
    output_schema: Schema = None
    resume_schema: Schema = None
    suspend_schema: Schema = None
    state_schema: Schema = None
    description: str = ""
    retries: int | RetryPolicy | None = None
    component: str = COMPONENT_STEP
    options: dict[str, Any] = field(default_factory=dict)
    timeout: Duration | None = None
    concurrency: Limit | None = None
    rate: Rate | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise WorkflowDefinitionError("A step needs a non-empty string id")
        if not callable(self.execute):
            raise WorkflowDefinitionError(f"Step {self.id!r}: execute must be callable")
        for name in ("input_schema", "output_schema", "resume_schema", "suspend_schema"):
            _check_schema(self.id, name, getattr(self, name))
        _check_schema(self.id, "state_schema", self.state_schema)
        retries = self.retries
        if (
            retries is not None
            and not isinstance(retries, RetryPolicy)
            and not (isinstance(retries, int) and retries >= 0)
        ):
            raise WorkflowDefinitionError(f"Step {self.id!r}: retries must be an int >= 0 or a RetryPolicy")
        object.__setattr__(self, "timeout", timeout_seconds(self.timeout, f"Step {self.id!r}: timeout"))
        check_step_limits(self.id, self.concurrency, self.rate)

    def __repr__(self) -> str:
        return f"<Step {self.id!r}>"


def _check_schema(step_id: str, name: str, schema: object) -> None:
    if schema is None:
        return
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise WorkflowDefinitionError(
            f"Step {step_id!r}: {name} must be a pydantic BaseModel subclass, got {schema!r}"
        )


def create_step(
    id_or_component: Any = None,
    /,
    *,
    id: str | None = None,
    execute: Execute | None = None,
    input_schema: Schema = None,
    output_schema: Schema = None,
    resume_schema: Schema = None,
    suspend_schema: Schema = None,
    state_schema: Schema = None,
    description: str = "",
    retries: int | RetryPolicy | None = None,
    timeout: Duration | None = None,
    concurrency: Limit | None = None,
    rate: Rate | None = None,
    **options: Any,
) -> Step:
    """Create a step from an id and an ``execute`` function, or wrap an agent or a tool.

    ``create_step("add", execute=...)`` and ``create_step(id="add", execute=...)``
    are the same; ``create_step(agent, **options)`` makes an agent step and
    ``create_step(tool)`` a tool step (see :func:`tool_step`). ``retries`` (an
    int, or a :class:`~.retry.RetryPolicy`) overrides the workflow's retry policy;
    ``timeout`` (seconds) fails an attempt that runs longer with
    :class:`~.errors.StepTimeoutError`. ``concurrency`` (a :class:`~.limits.Limit`)
    and ``rate`` (a :class:`~.limits.Rate`) bound its executions across all runs.
    """
    if id_or_component is not None and not isinstance(id_or_component, str):
        named = {"id": id, "description": description, "retries": retries}
        bounds = {"timeout": timeout, "concurrency": concurrency, "rate": rate}
        return _component_step(id_or_component, {**named, **bounds}, options)
    step_id: str | None = id_or_component or id
    if step_id is None or execute is None:
        raise WorkflowDefinitionError("create_step needs an id and an execute function")
    return Step(
        id=step_id,
        execute=execute,
        input_schema=input_schema,
        output_schema=output_schema,
        resume_schema=resume_schema,
        suspend_schema=suspend_schema,
        state_schema=state_schema,
        description=description,
        retries=retries,
        options=options,
        timeout=timeout,
        concurrency=concurrency,
        rate=rate,
    )


def _component_step(component: Any, named: dict[str, Any], options: dict[str, Any]) -> Step:
    """An agent or tool step, from ``create_step``'s keywords.

    Only the named keywords given override the component's own (an agent's
    name, a tool's description); the other options go to its adapter as they are.
    """
    return tool_step(component, **{name: value for name, value in named.items() if value}, **options)


def step(
    *,
    id: str | None = None,
    input_schema: Schema = None,
    output_schema: Schema = None,
    resume_schema: Schema = None,
    suspend_schema: Schema = None,
    state_schema: Schema = None,
    description: str = "",
    retries: int | RetryPolicy | None = None,
    timeout: Duration | None = None,
    concurrency: Limit | None = None,
    rate: Rate | None = None,
) -> Callable[[Execute], Step]:
    """Decorator form of :func:`create_step`; the function name is the default id."""

    def wrap(fn: Execute) -> Step:
        return Step(
            id=id or str(getattr(fn, "__name__", "")),
            execute=fn,
            input_schema=input_schema,
            output_schema=output_schema,
            resume_schema=resume_schema,
            suspend_schema=suspend_schema,
            state_schema=state_schema,
            description=description or (inspect.getdoc(fn) or ""),
            retries=retries,
            timeout=timeout,
            concurrency=concurrency,
            rate=rate,
        )

    return wrap


def clone_step(original: Step, *, id: str) -> Step:
    """The same step under another id, so one piece of code can appear twice in a flow."""
    return replace(original, id=id)


def tool_step(tool: Any, **options: Any) -> Step:
    """A step that runs an agent or calls a tool.

    ``tool`` is a pydantic-ai ``Agent`` or ``Tool`` (see :mod:`.agents`), an object
    with ``id`` and ``execute(input, context)`` (and optional ``input_schema``,
    ``output_schema``, ``description``), a typed plain function whose parameters
    become the input schema, or the id of a tool registered with
    :func:`~.components.register_tool`, looked up when the step runs.
    """
    limits: dict[str, Any] = {name: options.pop(name) for name in ("concurrency", "rate") if name in options}
    if isinstance(tool, Step):
        return replace(tool, **limits) if limits else tool
    for adapt in _component_adapters:
        adapted = adapt(tool, **options)
        if adapted is not None:
            return replace(adapted, **limits) if limits else adapted
    options.update(limits)
    named = ("id", "description", "retries", "timeout", "concurrency", "rate")
    overrides = {name: options.pop(name) for name in named if name in options}
    if isinstance(tool, str):
        step = _registered_tool_step(tool, options)
    elif hasattr(tool, "execute") and hasattr(tool, "id"):
        step = _object_tool_step(tool, options)
    elif callable(tool):
        step = _function_tool_step(tool, options)
    else:
        raise WorkflowDefinitionError(f"Cannot make a step from {tool!r}")
    return replace(step, **overrides) if overrides else step


def _object_tool_step(tool: Any, options: dict[str, Any]) -> Step:
    async def execute(ctx: StepContext) -> Any:
        result = tool.execute(ctx.input_data, ctx)
        return await result if inspect.isawaitable(result) else result

    return Step(
        id=tool.id,
        execute=execute,
        input_schema=getattr(tool, "input_schema", None),
        output_schema=getattr(tool, "output_schema", None),
        description=getattr(tool, "description", "") or "",
        component=COMPONENT_TOOL,
        options=options,
    )


def signature_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    """The input schema of a typed function: one field per parameter."""
    fields: dict[str, Any] = {}
    for parameter, param in inspect.signature(fn).parameters.items():
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[parameter] = (annotation, default)
    model: type[BaseModel] = create_model(f"{name}_input", **fields)
    return model


def _function_tool_step(fn: Callable[..., Any], options: dict[str, Any]) -> Step:
    name = getattr(fn, "__name__", "tool")

    async def execute(ctx: StepContext) -> Any:
        result = fn(**dict(ctx.input_data or {}))
        return await result if inspect.isawaitable(result) else result

    return Step(
        id=name,
        execute=execute,
        input_schema=signature_model(fn, name),
        description=inspect.getdoc(fn) or "",
        component=COMPONENT_TOOL,
        options=options,
    )


def _registered_tool_step(tool_id: str, options: dict[str, Any]) -> Step:
    """A step for the tool registered as ``tool_id``, found when the step runs (not when defined)."""

    async def execute(ctx: StepContext) -> Any:
        found = tool_step(get_tool(tool_id))
        ctx.input_data = validate(found.input_schema, ctx.input_data, StepInputValidationError)
        result = found.execute(ctx)
        return await result if inspect.isawaitable(result) else result

    return Step(id=tool_id, execute=execute, component=COMPONENT_TOOL, options=options)
