"""Run operations as HTTP requests need them, on top of the engine API.

A request must not outlive its client's patience, but a run may take hours. So
an operation runs as its own task, which goes on after the response; the request
waits only until the operation is *accepted* (its first commit, where a lost race
or a stale suspension shows) or, when the client asks to ``wait``, until the run
settles or the time limit passes. Nothing here writes a run's status: the engine
does, through ``Run.aenqueue`` / ``aresume`` / ``arestart`` / ``acancel``.

Going on after the response needs an event loop that outlives the request.
Under ASGI the request's loop is the server's, which lives as long as the
process. Under WSGI (``runserver`` without daphne, gunicorn's sync workers)
Django runs an async view in a loop made for that one request and closes it,
cancelling its tasks, once the response is ready: :func:`aoutlive` moves the
operation to a loop of the process's own instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest

from ..core import runtime
from ..core.errors import InputValidationError, RunNotFoundError
from ..core.graph import WorkflowDefinition
from ..core.hub import hub
from ..core.plan import ACTIVE
from ..core.run import Run, acreate_run
from ..core.storage import RunRecord
from ..request_threads import detach
from .errors import ApiError, field_errors

logger = logging.getLogger(__name__)

# How often a waiting request looks at the stored run when no event woke it up:
# events of a run driven in another process only reach this one through storage.
_POLL_SECONDS = 0.5
_operations: set[asyncio.Task[Any]] = set()
_background: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()
T = TypeVar("T")


async def aoutlive(request: HttpRequest, operation: Coroutine[Any, Any, T]) -> T:
    """Await ``operation`` in a loop where what it sets going outlives ``request``."""
    if not isinstance(request, WSGIRequest):
        return await operation
    loop = background_loop()
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

    def begin() -> None:
        task = loop.create_task(operation)
        task.add_done_callback(lambda done: _settle(outcome, done))

    # A fresh context: the request's would send the ORM calls of the operation to the
    # request thread's executor, which stops with the request.
    loop.call_soon_threadsafe(begin, context=contextvars.Context())
    return await asyncio.wrap_future(outcome)


def _settle(outcome: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
    if task.cancelled():
        outcome.cancel()
    elif task.exception() is not None:
        outcome.set_exception(task.exception())
    else:
        outcome.set_result(task.result())


def background_loop() -> asyncio.AbstractEventLoop:
    """This process's loop for operations started under WSGI: a daemon thread, started on first use."""
    global _background
    with _background_lock:
        if _background is None:
            _background = asyncio.new_event_loop()
            thread = threading.Thread(
                target=_background.run_forever, name="workflows-operations", daemon=True
            )
            thread.start()
        return _background


async def astart(
    workflow: WorkflowDefinition, user: Any, body: Any, *, idempotency_key: str | None = None
) -> str:
    """Validate and store a new run owned by ``user``, set it going; returns its id.

    With ``idempotency_key``, a retried request gets the run the first one started.
    """
    # The owner goes in the commit that creates and starts the run: never a run without one.
    run = await acreate_run(
        workflow,
        resource_id=body.resource_id,
        owner=getattr(user, "pk", None),
        idempotency_key=idempotency_key,
    )
    try:
        await run.aenqueue(
            body.input_data, initial_state=body.initial_state, request_context=body.request_context
        )
    except InputValidationError as exc:
        field = _invalid_field(workflow, exc)
        raise ApiError(422, "invalid-input", exc.message, errors=field_errors(exc.issues, field)) from exc
    if body.wait:
        await await_settled(run.run_id, body.timeout)
    return run.run_id


def _invalid_field(workflow: WorkflowDefinition, exc: InputValidationError) -> str:
    """Which part of the start request failed: the input, or the initial state."""
    title = getattr(exc.__cause__, "title", None)
    state = workflow.state_schema
    if (
        state is not None
        and title == state.__name__
        and title != getattr(workflow.input_schema, "__name__", None)
    ):
        return "initial_state"
    return "input_data"


async def arun_for(record: RunRecord) -> Run:
    """A ``Run`` of a stored run, on the engine it was started with."""
    workflow = runtime.get_workflow(record.workflow_id)
    return await acreate_run(workflow, run_id=record.run_id, engine=record.engine)


async def aload(run_id: str) -> RunRecord:
    record = await runtime.get_storage().aget_run(run_id)
    if record is None:
        raise RunNotFoundError(f"Workflow run {run_id!r} not found")
    return record


async def await_settled(run_id: str, timeout: float) -> RunRecord:
    """The stored run once it is no longer pending or running, or when ``timeout`` passes."""
    queue, unsubscribe = hub.queue(run_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            record = await aload(run_id)
            remaining = deadline - loop.time()
            if record.status not in ACTIVE or remaining <= 0:
                return record
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.get(), timeout=min(remaining, _POLL_SECONDS))
    finally:
        unsubscribe()


async def adrive(
    run_id: str, operation: Coroutine[Any, Any, Any] | asyncio.Task[Any], *, wait: bool, timeout: float
) -> None:
    """Run ``operation`` (an engine call on the run) past the end of this request.

    Returns once it is accepted, or with ``wait`` once it returned (the run
    settled) or ``timeout`` passed; raises what it raised meanwhile. Accepted
    means that it published its first event: the engines publish after each
    commit, from the task that committed, so an event published by our task is
    our commit, never another client's.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    accepted = asyncio.Event()
    # Off the request's thread, which ends with the response.
    task = operation if isinstance(operation, asyncio.Task) else detach(operation)
    _operations.add(task)
    task.add_done_callback(_finished)

    def listener(event: dict[str, Any]) -> None:
        if asyncio.current_task() is task:
            accepted.set()

    unsubscribe = hub.subscribe(run_id, listener)
    try:
        waiter = asyncio.ensure_future(accepted.wait())
        await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if wait and not task.done():
            await asyncio.wait({task}, timeout=max(0.0, deadline - loop.time()))
    finally:
        unsubscribe()
    if task.done():
        task.result()


def _finished(task: asyncio.Task[Any]) -> None:
    _operations.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.info("A run operation ended with %r", task.exception())
