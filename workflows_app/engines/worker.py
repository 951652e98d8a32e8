"""A worker: claims task rows of its queues when it has room, runs them, commits what follows.

Invariants:

- Work is taken only by claiming its row (a conditional UPDATE: queued and due),
  or in the commit that creates it (the worker that applied that commit runs the
  next step itself, with no claim query and no doorbell). Doorbells and the
  idle poll only say "look": backlog is never a lost delivery.
- A step runs under its lease, renewed while it runs. A renewal that fails (the
  lease expired and was taken back, the run was canceled or restarted) sets the
  step's abort signal; the step gets ``cancel_grace_seconds`` to finish, then it
  is cancelled. Its result is dropped: the commit that would apply it is fenced by
  the lease number and writes nothing.
- The sweeper takes back the expired leases of the worker's queues, one more
  delivery each; a task delivered more than ``max_deliveries`` times fails with
  :class:`TaskLostError` instead of running again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..core import runtime
from ..core.errors import WorkflowError
from ..core.storage import Claim, LeaseLost
from ._holders import LOCAL_WORKERS
from ._tasks import Held, TaskLostError, TaskRunner, cancelling
from .limits import uses_limits

if TYPE_CHECKING:
    from ..core.graph import WorkflowDefinition
    from ..core.storage import RunRecord
    from ._pipeline import Pipeline

logger = logging.getLogger(__name__)
_RETRY_SECONDS = 0.5
_RELEASE_MS = 5_000
_UNBOUNDED_BATCH = 64


class Worker:
    """Runs tasks of one engine, at most ``capacity`` at once (``None``: no limit)."""

    def __init__(
        self,
        engine: Pipeline,
        *,
        name: str = "worker",
        capacity: int | None = None,
        workflows: Sequence[str] | None = None,
    ) -> None:
        self.engine = engine
        self.storage = engine.storage
        self.bus = engine.bus
        self.options = engine.options
        self.id = f"{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.capacity = capacity
        self.workflows = frozenset(workflows) if workflows is not None else None
        self.held: dict[tuple[str, str, int, int], Held] = {}
        self._wake = asyncio.Event()
        self._stopped = False
        self._draining = False
        self._abandoned: set[str] = set()
        self.tasks = TaskRunner(engine, self, self.held)
        LOCAL_WORKERS[self.id] = self

    def __repr__(self) -> str:
        return f"<Worker {self.id} of {self.engine.name}>"

    # -- the loops ------------------------------------------------------------------------------
    async def arun(self, *, doorbell: bool = True) -> None:
        """Claim, renew, sweep, beat and listen until cancelled."""
        loops = [self._aclaim_loop(), self._arenew_loop(), self._asweep_loop(), self._abeat_loop()]
        loops.append(self._alisten_loop())
        if doorbell:
            loops.append(self._adoorbell_loop())
        tasks = [asyncio.ensure_future(loop) for loop in loops]
        try:
            await asyncio.gather(*tasks)
        finally:
            self._stopped = True  # a loop whose cancellation was hidden (see _reraise_cancel) ends too
            for task in tasks:
                task.cancel()
            for held in list(self.held.values()):
                held.job.cancel()

    async def adrain(self, grace_seconds: float) -> None:
        """Stop taking work; give running tasks ``grace_seconds``, then hand the rest back.

        A stopping worker takes nothing more, not even the next step of a run
        whose step it just finished (it commits that step's outcome and leaves
        what follows in the queue). The tasks still running after the grace
        period see their abort signal, are cancelled, and go back to the queue at
        once, with no delivery counted: another worker takes them without
        waiting for their lease to expire.
        """
        self._draining = True
        jobs = [held.job for held in self.held.values()]
        if jobs:
            await asyncio.wait(jobs, timeout=grace_seconds)
        left = list(self.held.values())
        for held in left:
            if held.signal is not None:
                held.signal.set()
            held.job.cancel()
        await asyncio.gather(*(held.job for held in left), return_exceptions=True)
        for held in left:
            try:
                if await self.storage.arelease(held.claim, 0):
                    claim = held.claim
                    logger.info("Worker %s handed back %s of run %s", self.id, claim.key, claim.run_id)
            except Exception:  # its lease will expire instead
                logger.exception("Worker %s could not hand back %s", self.id, held.claim.key)

    def serves(self) -> list[str]:
        """The workflows this worker runs: those registered here (of ``workflows``, if given)."""
        registered = runtime.registered_workflows()
        return sorted(wf for wf in registered if self.workflows is None or wf in self.workflows)

    def gated(self) -> bool:
        """Whether a workflow this worker serves has limits (its claims then look for gated rows)."""
        return any(uses_limits(runtime.get_workflow(workflow_id)) for workflow_id in self.serves())

    @property
    def queues(self) -> list[str]:
        """Read at each claim and sweep: a workflow registered later is served from then on."""
        return self.engine.worker_queues(self)

    def works_on(self, run_id: str) -> bool:
        """Whether this worker is running a task of the run now."""
        return not self._stopped and any(held.claim.run_id == run_id for held in self.held.values())

    def claimable(self, freed: int = 0) -> int | None:
        if self._draining:
            return 0
        return None if self.capacity is None else max(0, self.capacity - len(self.held) + freed)

    def wake(self) -> None:
        self._wake.set()

    def wake_in(self, delay_ms: int) -> None:
        """Look for work again in ``delay_ms`` (a timer this process armed)."""
        if delay_ms <= 0:
            self.wake()
        else:
            asyncio.get_running_loop().call_later(delay_ms / 1000, self.wake)

    async def _aclaim_loop(self) -> None:
        poll = float(self.options["poll_seconds"])
        while True:
            self._wake.clear()
            room = self.claimable()
            if room != 0:
                try:
                    claims = await self.storage.aclaim(
                        self.queues,
                        self.id,
                        room or _UNBOUNDED_BATCH,
                        self.engine.lease_ms,
                        gated=self.gated(),
                    )
                except Exception:
                    self._reraise_cancel()
                    logger.exception("Worker %s cannot claim work; trying again", self.id)
                    claims = []
                self.adopt(claims, None)
                if claims and len(claims) == (room or _UNBOUNDED_BATCH):
                    continue  # there may be more
            with contextlib.suppress(TimeoutError):
                # Jittered, so that workers started together do not poll together.
                async with asyncio.timeout(poll * random.uniform(0.8, 1.2)):  # noqa: S311
                    await self._wake.wait()

    async def _adoorbell_loop(self) -> None:
        """Doorbells of the bus: any message means "look now"."""
        while True:
            try:
                await self.bus.areceive()
            except asyncio.CancelledError:
                raise
            except Exception:  # the bus is down: polling still finds the work
                self._reraise_cancel()
                logger.warning("Worker %s cannot hear doorbells; polling meanwhile", self.id)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            self.wake()

    async def _alisten_loop(self) -> None:
        """Broadcasts: a run was canceled; check its leases now instead of at the next renewal."""
        while True:
            try:
                async with self.bus.listen() as broadcasts:
                    async for message in broadcasts:
                        if message.get("type") == "cancel":
                            self.on_cancel(str(message["run_id"]))
            except asyncio.CancelledError:
                raise
            except Exception:  # cancellations still arrive through the renewals
                self._reraise_cancel()
                logger.warning("Worker %s lost its broadcast channel; listening again", self.id)
                await asyncio.sleep(_RETRY_SECONDS)

    async def _arenew_loop(self) -> None:
        while True:
            await asyncio.sleep(float(self.options["lease_seconds"]) / 3)
            try:
                await self.arenew()
            except Exception:
                self._reraise_cancel()
                logger.exception("Worker %s could not renew its leases", self.id)

    async def _asweep_loop(self) -> None:
        first = True
        while True:
            await asyncio.sleep(float(self.options["sweep_seconds"]))
            try:
                if await self.storage.asweep(self.queues):
                    self.wake()
            except Exception:
                self._reraise_cancel()
                logger.exception("Sweep of worker %s failed", self.id)
            for duty in runtime.sweep_duties():  # the app's own (due schedules)
                try:
                    await duty(first)
                except Exception:
                    self._reraise_cancel()
                    logger.exception("Sweep duty %r of worker %s failed", duty, self.id)
            first = False

    async def _abeat_loop(self) -> None:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "concurrency": self.capacity or 0}
        while True:
            try:
                await self.storage.aheartbeat(self.id, {**info, "running": len(self.held)})
            except Exception:
                self._reraise_cancel()
                logger.warning("Worker %s could not record its heartbeat", self.id)
            await asyncio.sleep(float(self.options["heartbeat_seconds"]))

    def _reraise_cancel(self) -> None:
        """Raise the cancellation an exception hid, instead of retrying.

        redis-py can turn a cancelled read into its TimeoutError (and asyncio's
        timeout then takes the cancellation back), so a loop that retries on
        errors would never stop: it stops when its task is being cancelled or
        the worker has stopped.
        """
        if self._stopped or cancelling():
            raise asyncio.CancelledError

    # -- leases ---------------------------------------------------------------------------------
    async def arenew(self, run_id: str | None = None) -> None:
        """Renew the leases held (of one run, or all); a step whose lease is gone is told to stop."""
        held = [h for h in self.held.values() if not h.lost and (run_id is None or h.claim.run_id == run_id)]
        if not held:
            return
        kept = await self.storage.arenew([h.claim for h in held], self.engine.lease_ms)
        for h in held:
            if h.claim.fence not in kept:
                self._lose(h)

    def on_cancel(self, run_id: str) -> None:
        if any(h.claim.run_id == run_id for h in self.held.values()):
            task = asyncio.ensure_future(self.arenew(run_id))
            task.add_done_callback(_log_failure)

    def _lose(self, held: Held) -> None:
        """The lease is gone: abort signal now, cancellation after the grace period."""
        held.lost = True
        logger.info(
            "Worker %s lost its lease on %s of run %s; stopping it",
            self.id,
            held.claim.key,
            held.claim.run_id,
        )
        if held.signal is not None:
            held.signal.set()
        grace = float(self.options["cancel_grace_seconds"])
        asyncio.get_running_loop().call_later(grace, held.job.cancel)

    def abandon(self, run_id: str) -> None:
        """Drop the run's tasks here without writing anything, as a killed worker would."""
        self._abandoned.add(run_id)
        for held in list(self.held.values()):
            if held.claim.run_id == run_id:
                held.job.cancel()

    # -- running claims -------------------------------------------------------------------------------
    def adopt(self, claims: list[Claim], known: RunRecord | None) -> None:
        """Run claimed tasks (claimed by a query, or in the commit this worker applied)."""
        for claim in claims:
            self._abandoned.discard(claim.run_id)
            job = asyncio.ensure_future(self._arun_claim(claim, known))
            self.held[claim.fence] = Held(claim, job)
            job.add_done_callback(functools.partial(self._release, claim.fence))

    def _release(self, fence: tuple[str, str, int, int], job: asyncio.Task[None]) -> None:
        held = self.held.pop(fence, None)
        self.wake()  # a slot is free
        if held is not None and held.claim.limited and not self.bus.local:
            ring = asyncio.ensure_future(self.bus.asend({"type": "wake"}))  # and one of a limit
            ring.add_done_callback(_log_failure)

    async def _arun_claim(self, claim: Claim, known: RunRecord | None) -> None:
        try:
            record = known if known is not None else await self.storage.aget_run(claim.run_id)
            if record is None:
                await self.storage.adrop([claim])
                return
            workflow = self._workflow_for(record)
            if workflow is None:
                await self.storage.arelease(claim, _RELEASE_MS)
                return
            committed = await self.tasks.awork(workflow, record, claim)
            for following in await self.engine.aafter_commit(workflow, committed, self):
                self.adopt([following], committed.decision.record if committed else None)
        except asyncio.CancelledError:
            if claim.run_id in self._abandoned or self._stopped:
                return  # as a killed worker: nothing written
            raise
        except LeaseLost as lost:
            logger.info("Worker %s lost its lease on %s of run %s", self.id, claim.key, claim.run_id)
            await self.storage.adrop(lost.lost)
        except Exception:
            logger.exception("Worker %s failed on %s of run %s", self.id, claim.key, claim.run_id)
            await self._ahand_back(claim)

    async def _ahand_back(self, claim: Claim) -> None:
        """Hand a claim back after a failure (a database hiccup): a few seconds' delay, not a lease.

        Kept, the claim would wait out its lease (30 s by default) before anyone
        tried again; handed back it is due again after ``_RELEASE_MS``, as a
        lease that lapsed early.
        """
        try:
            await self.storage.arelease(claim, _RELEASE_MS)
        except Exception:  # the database is still away: the lease will expire instead
            logger.exception("Worker %s could not hand back %s", self.id, claim.key)

    def _workflow_for(self, record: RunRecord) -> WorkflowDefinition | None:
        try:
            workflow = runtime.get_workflow(record.workflow_id)
        except WorkflowError:
            logger.warning(
                "Worker %s has no workflow %r; leaving run %s", self.id, record.workflow_id, record.run_id
            )
            return None
        if record.definition_hash and workflow.definition_hash != record.definition_hash:
            logger.warning(
                "Worker %s has definition %s of %r but run %s needs %s; leaving it alone",
                self.id,
                workflow.definition_hash,
                workflow.id,
                record.run_id,
                record.definition_hash,
            )
            return None
        return workflow


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("Checking leases failed", exc_info=task.exception())


__all__ = ["TaskLostError", "Worker"]
