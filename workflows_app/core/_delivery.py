"""Delivering events sent to runs: a step that suspended with ``event=`` resumes when its event arrives.

Sending stores the event first, then resumes the runs that wait on it. A step
that suspends on an event owes, in its suspending commit, a look for kept events
(a ``match`` task row) done after that commit. Whichever of a send and a suspend
comes second sees the other, so no event falls between them.

A run takes a given event at most once: ``plan`` keeps the ids of the events it
received and ignores one it has, and every delivery is a compare-and-set commit
on the run, so racing senders, the run's own look and any number of workers
resume each waiting step once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .clock import now_ms
from .errors import EventError, ResumeConflictError, ResumeDataValidationError, RunNotActiveError
from .payloads import plain
from .plan import suspended_tasks, task_component
from .storage import RunRecord, SentEvent, Storage
from .validation import validate

if TYPE_CHECKING:
    from .engine import RunHandle
    from .graph import WorkflowDefinition

logger = logging.getLogger(__name__)

ANY_KEY = "\x00any"  # a targeted event matches a wait on its name whatever the wait's key
_TERMINAL = frozenset({"success", "failed", "canceled", "tripwire"})
_CONFLICT_ATTEMPTS = 50


def check_event(name: Any, key: Any) -> None:
    """Refuse a name or key no wait can have, before anything is stored."""
    if not isinstance(name, str) or not name.strip():
        raise EventError(f"An event needs a non-empty name, not {name!r}")
    if key is not None and not isinstance(key, str):
        raise EventError(f"An event's key must be a string or None, not {type(key).__name__}")


def waiting_keys(run_state: dict[str, Any], name: str, key: str | None = ANY_KEY) -> list[str]:
    """The keys of the run's suspended tasks waiting on event ``name`` (and ``key``), in graph order."""
    found = []
    for task_key, task in suspended_tasks(run_state):
        wait = task.get("wait") or {}
        if wait.get("event") == name and (key == ANY_KEY or wait.get("key") == key):
            found.append(task_key)
    return found


def waits_of(run_state: dict[str, Any]) -> list[tuple[str, str | None]]:
    """``(name, key)`` of every event the run's suspended tasks wait on."""
    waits = []
    for _, task in suspended_tasks(run_state):
        wait = task.get("wait")
        if wait and (wait["event"], wait.get("key")) not in waits:
            waits.append((wait["event"], wait.get("key")))
    return waits


def event_data(
    workflow: WorkflowDefinition, run_state: dict[str, Any], keys: Sequence[str], data: Any
) -> Any:
    """The event's data validated by the resume schema of the first waiting step ("Invalid resume data")."""
    component = task_component(workflow.nested_workflows(), run_state, run_state["tasks"][keys[0]])
    validated = validate(component.resume_schema, data, ResumeDataValidationError)
    return plain(validated, what="the validated event data", limited=False)


def delivery(event: SentEvent, keys: Sequence[str], data: Any) -> dict[str, Any]:
    """The ``plan`` event that resumes the tasks ``keys`` with ``event``."""
    return {
        "type": "event",
        "event": {"id": event.id, "name": event.name, "data": data},
        "keys": list(keys),
        "now": now_ms(),
    }


def retention_ms(engine: Any) -> int:
    """How long an event nobody waits on yet is kept (the EVENT_RETENTION_SECONDS setting)."""
    options = getattr(engine, "options", {}) or {}
    return int(float(options.get("event_retention_seconds", 86400.0)) * 1000)


# -- sending ---------------------------------------------------------------------------------------
async def asend_to_run(run: RunHandle, name: str, data: Any, *, wait: bool = False) -> bool:
    """Send an event to one run; ``True`` if a waiting step took it now, ``False`` if it is kept.

    Data for a step waiting now is validated at once; a run that has ended
    cannot receive events (``RunNotActiveError``). With ``wait``, a run the event
    resumed has settled again when this returns.
    """
    check_event(name, None)
    data = plain(data, what="the event data")
    record = await run._aload()
    if record.status in _TERMINAL:
        raise RunNotActiveError(
            f"Workflow run {run.run_id!r} has ended ({record.status}); it takes no events"
        )
    keys = waiting_keys(record.run_state, name)
    if keys:
        event_data(run.workflow, record.run_state, keys, data)
    event = SentEvent(name=name, data=data, run_id=run.run_id)
    kept = await run.storage.akeep_event(event, retention_ms(run.engine))
    delivered = await adeliver(run, kept, take=False, wait=wait)
    if delivered:
        await run.storage.atake_event(kept.id, run.run_id)
    return delivered


async def adeliver(run: RunHandle, event: SentEvent, *, take: bool, wait: bool = False) -> bool:
    """Resume the run's steps waiting on ``event``; ``False`` if none waits (any more).

    A compare-and-set commit: when another commit of the run came first, look
    again. With ``take``, the kept event is taken for the run first, and given
    back if the run could not use it.
    """
    key = ANY_KEY if event.run_id is not None else event.key
    for _ in range(_CONFLICT_ATTEMPTS):
        record = await run._aload()
        if event.id in record.run_state.get("received", ()):
            return True
        keys = waiting_keys(record.run_state, event.name, key)
        if not keys:
            return False
        data = event_data(run.workflow, record.run_state, keys, event.data)
        if take and not await run.storage.atake_event(event.id, run.run_id):
            return False
        try:
            await run.engine.aexecute(
                run, delivery(event, keys, data), expected_version=record.version, wait=wait
            )
            return True
        except ResumeConflictError:
            if take:
                await run.storage.arelease_event(event.id, run.run_id)
    raise ResumeConflictError(f"Workflow run {run.run_id!r} kept changing; event {event.name!r} was kept")


# -- a run that suspends looks for kept events ---------------------------------------------------------
async def anext_kept(
    storage: Storage, workflow: WorkflowDefinition, record: RunRecord
) -> tuple[SentEvent, tuple[list[str], Any]] | None:
    """A kept event the run waits on, taken for it, with its validated data; ``None`` if there is none.

    An event whose data the waiting step's resume schema refuses is left for
    another run (and logged).
    """
    state = record.run_state
    waits = waits_of(state)
    if not waits:
        return None
    for event in await storage.akept_events(record.run_id, waits):
        if event.id in state.get("received", ()):
            continue
        keys = waiting_keys(state, event.name, ANY_KEY if event.run_id else event.key)
        if not keys:
            continue
        try:
            data = event_data(workflow, state, keys, event.data)
        except ResumeDataValidationError:
            logger.warning(
                "Kept event %s (%r) has data run %s cannot take", event.id, event.name, record.run_id
            )
            continue
        if await storage.atake_event(event.id, record.run_id):
            return event, (keys, data)
    return None
