"""What a step's ``execute`` receives, and the objects it reaches through it.

The context records what the step asked for (suspend, bail, abort, state
changes, request-context changes) instead of acting at once; :func:`._execution.run_task` turns
those requests into the task outcome that ``plan`` decides on. Nothing here
touches storage except through the :class:`StepEnvironment` the engine supplies.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from .errors import EventError, WorkflowError
from .payloads import plain

_MISSING = object()


class StepEnvironment(Protocol):
    """The engine's side of a running step."""

    async def get_step_output(self, path: str) -> Any:
        """The output of the step at ``path`` if it succeeded in this run, else ``None``."""

    async def emit(self, event: dict[str, Any]) -> None:
        """Append an event to the run's log and stream it."""


class AbortSignal:
    """Set when the run is canceled; steps may poll ``aborted`` or ``await`` it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    @property
    def aborted(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()

    def __await__(self) -> Any:
        return self._event.wait().__await__()


class RequestContext(MutableMapping[str, Any]):
    """Request-scoped values (user, tenant, locale...) that persist with the run."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def set(self, key: str, value: Any) -> None:
        self._values[key] = value

    def delete(self, key: str) -> None:
        self._values.pop(key, None)

    def to_dict(self) -> dict[str, Any]:
        return self._values

    def __repr__(self) -> str:
        return f"RequestContext({self._values!r})"


class Writer:
    """Lets a step stream its own output while it runs."""

    def __init__(self, env: StepEnvironment, run_id: str, step_name: str) -> None:
        self._env = env
        self._run_id = run_id
        self._step_name = step_name

    async def write(self, data: Any) -> None:
        """Emit ``data`` as a ``workflow-step-output`` event from ``USER``."""
        output = plain(data, what=f"what step {self._step_name!r} writes")
        await self._env.emit(
            {
                "type": "workflow-step-output",
                "from": "USER",
                "payload": {"output": output, "run_id": self._run_id, "step_name": self._step_name},
            }
        )

    async def custom(self, chunk: Mapping[str, Any]) -> None:
        """Emit a raw event whose type is ``chunk["type"]``."""
        if "type" not in chunk:
            raise WorkflowError("writer.custom() needs a chunk with a 'type'")
        payload = plain(
            chunk.get("payload", {k: v for k, v in chunk.items() if k != "type"}),
            what=f"what step {self._step_name!r} writes",
        )
        await self._env.emit({"type": chunk["type"], "from": "USER", "payload": payload})


@dataclass
class Requests:
    """What the step asked the engine to do, collected while it runs."""

    suspended: bool = False
    suspend_payload: Any = _MISSING
    label: str | None = None
    wait: dict[str, Any] | None = None
    timeout_ms: int | None = None
    bailed: bool = False
    bail_value: Any = None
    aborted: bool = False
    state_delta: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def has_suspend_payload(self) -> bool:
        return self.suspend_payload is not _MISSING


@dataclass
class StepContext:
    """The one argument of a step's ``execute``."""

    input_data: Any
    run_id: str
    workflow_id: str
    env: StepEnvironment
    step_id: str = ""
    scope: str = ""
    resume_data: Any = None
    suspend_data: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    resource_id: str | None = None
    retry_count: int = 0
    run_count: int = 0
    timed_out: bool = False
    iteration_count: int = 0
    request_context: RequestContext = field(default_factory=RequestContext)
    abort_signal: AbortSignal = field(default_factory=AbortSignal)
    init_data: Any = None
    step_ids: Collection[str] = ()
    tracing_context: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("workflows_app.steps"))
    requests: Requests = field(default_factory=Requests)

    @property
    def writer(self) -> Writer:
        return Writer(self.env, self.run_id, self.step_id)

    def get_init_data(self) -> Any:
        """The input of the workflow this step belongs to (the nested one, if nested)."""
        return self.init_data

    async def get_step_result(self, step_or_id: Any) -> Any:
        """The output of a step of this workflow level, or ``None`` if it did not run."""
        step_id = step_or_id if isinstance(step_or_id, str) else _id_of(step_or_id)
        path = f"{self.scope}.{step_id}" if self.scope else step_id
        return await self.env.get_step_output(path)

    def known_step_ids(self) -> Collection[str]:
        return self.step_ids

    async def set_state(self, partial: Mapping[str, Any]) -> None:
        """Merge ``partial`` into the run's state; later steps see the result."""
        for key, value in partial.items():
            self.state[key] = value
            self.requests.state_delta[key] = copy.deepcopy(value)

    async def suspend(
        self,
        payload: Any = None,
        *,
        label: str | None = None,
        event: str | None = None,
        key: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> None:
        """Ask to suspend after this step returns; a resume runs the step again.

        With ``event``, the step waits for that event (and ``key``, if given):
        sending it resumes the step with the event's data. With ``timeout``
        (seconds or a timedelta), a durable timer resumes it after that long with
        ``resume_data`` ``None`` and ``timed_out`` ``True``. Both are checked
        here, so a mistake fails the step at once instead of leaving a run that
        nothing can wake.
        """
        self.requests.suspended = True
        if payload is not None:
            self.requests.suspend_payload = payload
        self.requests.label = label
        self.requests.wait = event_wait(event, key)
        self.requests.timeout_ms = timeout_ms(timeout)

    async def bail(self, result: Any) -> Any:
        """End the whole run successfully with ``result`` once this step returns."""
        self.requests.bailed = True
        self.requests.bail_value = result
        return result

    async def abort(self) -> None:
        """Cancel the run once this step returns."""
        self.requests.aborted = True
        self.abort_signal.set()

    def record_usage(self, usage: Any) -> None:
        """Add model tokens this step spent to the run's total.

        ``usage`` is a mapping or an object (a pydantic-ai usage) with
        ``input_tokens`` and ``output_tokens``; the run reports the sum in the
        ``workflow-finish`` event's ``output.usage``. Agent steps call it themselves.
        """
        spent = {name: int(_usage_field(usage, name)) for name in ("input_tokens", "output_tokens")}
        given_total = _usage_field(usage, "total_tokens")
        spent["total_tokens"] = int(given_total or spent["input_tokens"] + spent["output_tokens"])
        for name, value in spent.items():
            self.requests.usage[name] = self.requests.usage.get(name, 0) + value


def event_wait(event: str | None, key: str | None) -> dict[str, Any] | None:
    """What a suspend waits for: an event name and an optional correlation key."""
    if event is None:
        if key is not None:
            raise EventError("suspend(key=...) needs an event name (event=...)")
        return None
    if not isinstance(event, str) or not event.strip():
        raise EventError("suspend(event=...) needs a non-empty event name")
    if key is not None and not isinstance(key, str):
        raise EventError(f"suspend(key=...) must be a string, not {type(key).__name__}")
    return {"event": event, "key": key}


def timeout_ms(timeout: float | timedelta | None) -> int | None:
    """A suspend's timeout in milliseconds; it must be positive."""
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise WorkflowError(f"suspend(timeout=...) must be a positive number of seconds, not {timeout!r}")
    return max(1, int(seconds * 1000))


def _usage_field(usage: Any, name: str) -> Any:
    value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
    return value or 0


def _id_of(component: Any) -> str:
    if isinstance(component, Mapping):
        return str(component["id"])
    return str(component.id)
