"""A run of a workflow: the operations users call, the same on every engine.

Everything that is not transport lives here or below: validating input before
anything is stored, choosing resume targets, validating resume data, and building
results from storage. An engine only applies ``plan`` events and carries out
their actions (see :class:`Engine`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from asgiref.sync import async_to_sync

from . import runtime
from ._delivery import asend_to_run
from ._run_inputs import keyed_run_id, new_record, resume_event
from .clock import now_ms
from .engine import Engine
from .errors import (
    IdempotencyConflictError,
    RunExistsError,
    RunHeldError,
    RunNotActiveError,
    RunNotFoundError,
    WorkflowError,
)
from .follow import afollow
from .hub import hub
from .plan import TERMINAL
from .results import WorkflowResult, build_result
from .storage import RunRecord, Storage
from .stored_runs import RunList, StoredRun, acancel_by_id, akeep_snapshot
from .stream import RunStream
from .travel import atime_travel

if TYPE_CHECKING:
    from .graph import WorkflowDefinition


class RunOptions(TypedDict, total=False):
    """Which run and where it runs: what ``create_run`` and ``acreate_run`` take, here and on a workflow.

    ``run_id`` names the run (a new uuid when unset); with the id of a stored run,
    ``acreate_run`` returns that run as stored. ``resource_id`` is what it belongs
    to (a user, a thread), by which runs are listed. ``engine`` is the name of the
    engine that drives it (the default engine when unset). ``owner`` is who starts it,
    stored with it (the Django app passes a user's pk). With ``idempotency_key``,
    every caller with the same key gets the same run, started once: starting it
    again with the same input joins the run the first start made, with other
    input raises ``IdempotencyConflictError``.
    """

    run_id: str | None
    resource_id: str | None
    engine: str | None
    owner: Any
    idempotency_key: str | None


class Run:
    """One run of a workflow; create it with ``workflow.create_run()``."""

    def __init__(self, workflow: WorkflowDefinition, **options: Unpack[RunOptions]) -> None:
        self.workflow = workflow
        self.idempotency_key = options.get("idempotency_key")
        run_id = options.get("run_id")
        if self.idempotency_key is not None:
            run_id = keyed_run_id(workflow.id, run_id, self.idempotency_key)
        self.run_id = run_id or str(uuid.uuid4())
        self.resource_id = options.get("resource_id")
        self.owner = options.get("owner")
        engine = options.get("engine")
        self.engine_name = engine or runtime.get_default_engine()
        self._engine_chosen = engine is not None
        self.status = "pending"
        self.request_context: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"<Run {self.run_id} of {self.workflow.id!r}: {self.status}>"

    @property
    def engine(self) -> Engine:
        engine: Engine = runtime.get_engine(self.engine_name)
        return engine

    @property
    def storage(self) -> Storage:
        return runtime.get_storage()

    # -- start ------------------------------------------------------------------
    def _new_record(
        self, input_data: Any, initial_state: Any, request_context: Any, per_step: bool
    ) -> tuple[RunRecord, dict[str, Any]]:
        """Validate what the run starts with; the run to create and its ``start`` event."""
        return new_record(self, input_data, initial_state, request_context, per_step)

    def start_event(
        self, input_data: Any = None, *, request_context: Any = None
    ) -> tuple[RunRecord, dict[str, Any]]:
        """The run to create and its ``start`` event, validated; nothing is stored.

        For a caller that writes the start inside a larger transaction of its
        own (a schedule writes its tick's row with it): ``engine.acommit(...,
        create=record)`` there, ``engine.aafter_commit`` once it committed.
        """
        return self._new_record(input_data, None, request_context, False)

    async def astart(
        self,
        input_data: Any = None,
        *,
        initial_state: Any = None,
        request_context: Any = None,
        per_step: bool = False,
        include_state: bool = False,
    ) -> WorkflowResult:
        """Create and start the run in one commit; return its result once it settles."""
        record, event = self._new_record(input_data, initial_state, request_context, per_step)
        await self._acreate(record, event, wait=True)
        return await self.aresult(include_state=include_state)

    async def aenqueue(
        self, input_data: Any = None, *, initial_state: Any = None, request_context: Any = None
    ) -> str:
        """Create and start the run in one commit without waiting for it; returns the run id."""
        record, event = self._new_record(input_data, initial_state, request_context, False)
        await self._acreate(record, event, wait=False)
        return self.run_id

    async def _acreate(self, record: RunRecord, event: dict[str, Any], *, wait: bool) -> None:
        """Create and start the run; with an idempotency key, a second start joins the first."""
        try:
            await self.engine.aexecute(self, event, create=record, wait=wait)
            if not wait:
                self.status = "running"
        except RunExistsError:
            if self.idempotency_key is None:
                raise
            self._join(await self.storage.aget_run(self.run_id), record)
            if wait:
                self.status = await self.engine.await_settled(self.run_id)

    def _join(self, stored: RunRecord | None, record: RunRecord) -> None:
        """The run this key started already exists: the same start joins it, another is refused."""
        if stored is None:  # deleted since: the key is free again, but not within this call
            raise RunExistsError(f"A workflow run with id {self.run_id!r} already exists")
        if stored.input != record.input:
            raise IdempotencyConflictError(
                f"Idempotency key {self.idempotency_key!r} already started run {self.run_id} "
                f"of {self.workflow.id!r} with other input",
                run_id=self.run_id,
            )
        self.status = stored.status

    def astream(
        self,
        input_data: Any = None,
        *,
        initial_state: Any = None,
        request_context: Any = None,
        per_step: bool = False,
        close_on_suspend: bool = True,
        include_state: bool = False,
    ) -> RunStream:
        """Start the run and iterate its events; ``await stream.result()`` at the end."""

        async def begin() -> WorkflowResult:
            return await self.astart(
                input_data,
                initial_state=initial_state,
                request_context=request_context,
                per_step=per_step,
                include_state=include_state,
            )

        return RunStream(self, begin, close_on_suspend=close_on_suspend, include_state=include_state)

    # -- resume -----------------------------------------------------------------
    async def aresume(
        self,
        resume_data: Any = None,
        *,
        step: Any = None,
        label: str | None = None,
        for_each_index: int | None = None,
        request_context: Any = None,
        include_state: bool = False,
    ) -> WorkflowResult:
        """Run suspended steps again with ``resume_data``; returns once the run settles."""
        record = await self._aload()
        event = resume_event(self.workflow, record, resume_data, step, label, for_each_index, request_context)
        version = await akeep_snapshot(self.workflow, self.storage, record)
        await self.engine.aexecute(self, event, expected_version=version)
        return await self.aresult(include_state=include_state)

    def aresume_stream(self, resume_data: Any = None, **options: Any) -> RunStream:
        close_on_suspend = options.pop("close_on_suspend", True)

        async def begin() -> WorkflowResult:
            return await self.aresume(resume_data, **options)

        include_state = bool(options.get("include_state", False))
        return RunStream(self, begin, close_on_suspend=close_on_suspend, include_state=include_state)

    # -- events -----------------------------------------------------------------
    async def asend_event(self, name: str, data: Any = None, *, wait: bool = False) -> bool:
        """Send event ``name`` to this run: its step waiting on it resumes with ``data``.

        Returns ``True`` if a step took it now; ``False`` if the run does not wait
        on it yet, in which case it is kept (``EVENT_RETENTION_SECONDS``) and
        delivered when a step of this run suspends on it. With ``wait``, returns
        once the resumed run settled again (as ``aresume`` does).
        """
        return await asend_to_run(self, name, data, wait=wait)

    # -- cancel, restart --------------------------------------------------------
    async def acancel(self) -> None:
        """Cancel the run: running steps see their abort signal, the status becomes canceled."""
        record = await self._aload()
        if record.status in TERMINAL:
            return
        await akeep_snapshot(self.workflow, self.storage, record)
        await self.engine.acancel_run(self.run_id, self.workflow)
        self.status = "canceled"

    async def arestart_refusal(self) -> WorkflowError | None:
        """Why ``arestart()`` would be refused now, or ``None`` if it would be allowed.

        The one check the admin (to offer Restart) and the REST API (to answer
        409) share with ``arestart()`` itself: the run must be running, and no
        live worker may hold it, or its steps would run twice at once.
        """
        checked = await self._arestartable()
        return checked if isinstance(checked, WorkflowError) else None

    async def _arestartable(self) -> RunRecord | WorkflowError:
        """The run to restart, or the error that refuses it."""
        record = await self.storage.aget_run(self.run_id)
        if record is None or record.status != "running":
            return RunNotActiveError()
        holders = await self.engine.aholders(self.run_id)
        if holders:
            return RunHeldError(
                f"Run {self.run_id} is still being worked on by {', '.join(holders)}; restart is for "
                "a run whose process died (wait until its worker stops or its lease ends)"
            )
        return record

    async def arestart(self, *, include_state: bool = False) -> WorkflowResult:
        """Continue a run whose process died while it was running (``RunHeldError`` if none did)."""
        record = await self._arestartable()
        if isinstance(record, WorkflowError):
            raise record
        await self.engine.aexecute(
            self, {"type": "restart", "now": now_ms()}, expected_version=record.version, reset="drop"
        )
        return await self.aresult(include_state=include_state)

    async def atime_travel(self, step: Any, **options: Any) -> WorkflowResult:
        """Run the workflow again from ``step``, with the history given or stored (see travel.py)."""
        return await atime_travel(self, step=step, **options)

    def atime_travel_stream(self, step: Any, **options: Any) -> RunStream:
        close_on_suspend = options.pop("close_on_suspend", True)

        async def begin() -> WorkflowResult:
            return await self.atime_travel(step, **options)

        return RunStream(self, begin, close_on_suspend=close_on_suspend)

    # -- reading ----------------------------------------------------------------
    async def _aload(self) -> RunRecord:
        record = await self.arefresh()
        if record is None:
            raise RunNotFoundError(f"Workflow run {self.run_id!r} not found")
        return record

    async def arefresh(self) -> RunRecord | None:
        """Read the stored run, if there is one, and take its status and resource id."""
        record = await self.storage.aget_run(self.run_id)
        if record is not None:
            self.resource_id = record.resource_id
            self.status = record.status
            self.owner = record.owner
            if not self._engine_chosen:
                self.engine_name = record.engine
        return record

    async def aresult(self, *, include_state: bool = False) -> WorkflowResult:
        """The run's result as stored now."""
        record = await self._aload()
        rows = await self.storage.aget_steps(self.run_id)
        exceptions = self.engine.live_exceptions(self.run_id)
        return build_result(record, rows, include_state=include_state, exceptions=exceptions)

    def watch(self, callback: Callable[[dict[str, Any]], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every live event of this run; returns the unwatch function."""
        return hub.subscribe(self.run_id, callback)

    async def aevents(self, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]:
        """The run's events after ``after_seq``: the stored log, then live ones until the run ends.

        In order and each once (see :func:`workflows_app.core.follow.afollow`).
        Events committed in this process arrive at once; events of steps run by
        other processes' workers arrive through the log, read every half second.
        The bus is left out on purpose: a channels_redis receive that is
        cancelled (the caller stops iterating) can outlive its task for the
        socket timeout.
        """
        following = afollow(self.storage, None, self.run_id, after_seq, poll_seconds=0.5, until_finished=True)
        async for event in following:
            if event is not None:
                yield event

    # -- sync twins ---------------------------------------------------------------
    def start(self, input_data: Any = None, **options: Any) -> WorkflowResult:
        return async_to_sync(self.astart)(input_data, **options)

    def resume(self, resume_data: Any = None, **options: Any) -> WorkflowResult:
        return async_to_sync(self.aresume)(resume_data, **options)

    def enqueue(
        self, input_data: Any = None, *, initial_state: Any = None, request_context: Any = None
    ) -> str:
        """Create and start the run in the caller's database transaction; returns the run id.

        Call it inside ``transaction.atomic()`` with the rows the run belongs with
        (an order and the run that ships it): a rollback leaves no trace of the
        run, and workers see it, and are rung for it, only once the transaction
        commits. It runs on the calling thread (sync code only), and does not
        start a worker: a running worker serving the workflow takes the run.
        """
        record, event = self._new_record(input_data, initial_state, request_context, False)
        try:
            self.engine.enqueue_here(self, event, record)
            self.status = "running"
        except RunExistsError:
            if self.idempotency_key is None:
                raise
            self._join(self.storage.get_run(self.run_id), record)
        return self.run_id

    def cancel(self) -> None:
        async_to_sync(self.acancel)()

    def send_event(self, name: str, data: Any = None, *, wait: bool = False) -> bool:
        return async_to_sync(self.asend_event)(name, data, wait=wait)

    def restart(self, **options: Any) -> WorkflowResult:
        return async_to_sync(self.arestart)(**options)

    def time_travel(self, step: Any, **options: Any) -> WorkflowResult:
        return async_to_sync(self.atime_travel)(step, **options)

    def result(self, **options: Any) -> WorkflowResult:
        return async_to_sync(self.aresult)(**options)


def create_run(workflow: WorkflowDefinition, **options: Unpack[RunOptions]) -> Run:
    """A run of ``workflow``, without reading storage (what ``workflow.create_run()`` returns)."""
    workflow.check_runnable()
    return Run(workflow, **options)


async def acreate_run(workflow: WorkflowDefinition, **options: Unpack[RunOptions]) -> Run:
    """A run of ``workflow``; with the ``run_id`` of a stored run, that run as stored.

    With an ``idempotency_key`` too: the run of that key, if one was started (:class:`RunOptions`).
    """
    run = create_run(workflow, **options)
    if options.get("run_id") is not None or options.get("idempotency_key") is not None:
        await run.arefresh()
    return run


__all__ = [
    "Run",
    "RunList",
    "RunOptions",
    "StoredRun",
    "WorkflowError",
    "acancel_by_id",
    "acreate_run",
    "create_run",
    "now_ms",
]
