"""The task protocol as a state machine, tried by hypothesis on the real storage.

Runs on the database of the leg (SQLite, or PostgreSQL), with a clock the test
moves. A model holds what every task row must be after each step; hypothesis
interleaves workers claiming (twice for a duplicated doorbell, never for a lost
one), renewing, completing and dying, two sweepers, the clock, cancels and
restarts, and after every step the database must be exactly the model, and:

- at most one live lease per task;
- no result stored twice (a completion's event appears once at most);
- nothing owed is lost (every row the model owes is in the database);
- deliveries rise only when a sweep takes an expired lease back;
- every row can move: queued rows are claimable once due, held rows expire.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field, replace

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from workflows_app.core.storage import Change, Claim, LeaseLost, RunRecord, TaskRow
from workflows_app.models import WorkflowEvent, WorkflowRun, WorkflowTask
from workflows_app.storage import DjangoStorage

LEASE = 1_000
QUEUE = "q"
WORKERS = ("w1", "w2", "w3")
TaskId = tuple[str, str, int]


@dataclass
class Row:
    """What the model says one task row holds."""

    order: int
    available_at: int
    status: str = "queued"
    owner: str = ""
    lease: int = 0
    lease_until: int | None = None
    deliveries: int = 0


@dataclass
class Model:
    now: int = 1_000_000
    rows: dict[TaskId, Row] = field(default_factory=dict)
    held: dict[str, set[Claim]] = field(default_factory=lambda: {w: set() for w in WORKERS})
    canceled: set[str] = field(default_factory=set)
    done: Counter[TaskId] = field(default_factory=Counter)
    takebacks: Counter[TaskId] = field(default_factory=Counter)


class TaskProtocol(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        WorkflowRun.objects.all().delete()
        self.model = Model()
        self.storage = DjangoStorage(clock=lambda: self.model.now)
        self.ids = itertools.count(1)
        self.handouts = itertools.count(1)
        self.runs: list[str] = []

    # -- writing rows ---------------------------------------------------------------------------------
    def _row(self, key: str, delay: int = 0, owner: str = "") -> TaskRow:
        return TaskRow(key, next(self.handouts), "step", QUEUE, delay_ms=delay, owner=owner, lease_ms=LEASE)

    def _owe(self, run_id: str, row: TaskRow) -> None:
        model = self.model
        owed = Row(order=next(self.ids), available_at=model.now + row.delay_ms)
        if row.owner:
            owed.status, owed.owner, owed.lease, owed.lease_until = "running", row.owner, 1, model.now + LEASE
            model.held[row.owner].add(row.claimed(run_id))
        model.rows[(run_id, row.key, row.handout)] = owed

    @rule(tasks=st.integers(1, 3), delay=st.sampled_from([0, 0, 500, 3_000]))
    def start_a_run(self, tasks: int, delay: int) -> None:
        run_id = f"r{len(self.runs)}"
        rows = [self._row(f"t{n}", delay if n else 0) for n in range(tasks)]
        create = RunRecord(run_id=run_id, workflow_id="wf", status="running")
        async_to_sync(self.storage.atransact)(run_id, lambda run: Change(run={}, tasks=rows), create=create)
        self.runs.append(run_id)
        for row in rows:
            self._owe(run_id, row)

    # -- workers --------------------------------------------------------------------------------------
    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 4), twice=st.booleans())
    def a_doorbell_rings(self, worker: str, limit: int, twice: bool) -> None:
        """The worker claims; a duplicated doorbell makes it claim again at once."""
        for _ in range(2 if twice else 1):
            claimed = async_to_sync(self.storage.aclaim)([QUEUE], worker, limit, LEASE)
            model = self.model
            due = sorted(
                (row.available_at, row.order, task_id)
                for task_id, row in model.rows.items()
                if row.status == "queued" and row.available_at <= model.now
            )
            assert [(c.run_id, c.key, c.handout) for c in claimed] == [task_id for *_, task_id in due[:limit]]
            for claim in claimed:
                row = model.rows[(claim.run_id, claim.key, claim.handout)]
                row.status, row.owner, row.lease_until = "running", worker, model.now + LEASE
                row.lease += 1
                assert (claim.lease, claim.deliveries) == (row.lease, row.deliveries)
                model.held[worker].add(claim)

    @rule(worker=st.sampled_from(WORKERS))
    def a_worker_renews(self, worker: str) -> None:
        held = sorted(self.model.held[worker], key=lambda c: c.fence)
        kept = async_to_sync(self.storage.arenew)(held, LEASE)
        for claim in held:
            row = self.model.rows.get((claim.run_id, claim.key, claim.handout))
            holds = row is not None and row.status == "running" and row.lease == claim.lease
            assert (claim.fence in kept) == holds
            if holds:
                assert row is not None
                row.lease_until = self.model.now + LEASE
            else:
                self.model.held[worker].discard(claim)  # its step is told to stop

    @rule(worker=st.sampled_from(WORKERS), pick=st.integers(0, 5), follow=st.booleans(), mine=st.booleans())
    def a_worker_completes(self, worker: str, pick: int, follow: bool, mine: bool) -> None:
        """The outcome's commit: an event, maybe the next task (claimed for itself or queued)."""
        held = sorted(self.model.held[worker], key=lambda c: c.fence)
        if not held:
            return
        claim = held[pick % len(held)]
        task_id = (claim.run_id, claim.key, claim.handout)
        nxt = self._row(f"{claim.key}+", owner=worker if mine else "")
        event = {"type": "done", "payload": {"task": list(task_id)}}
        row = self.model.rows.get(task_id)
        holds = row is not None and row.status == "running" and row.lease == claim.lease
        change = Change(run={}, events=[event], tasks=[nxt] if follow else [])
        try:
            async_to_sync(self.storage.atransact)(claim.run_id, lambda run: change, fences=[claim])
        except LeaseLost as lost:
            assert not holds and lost.lost == [claim]
            async_to_sync(self.storage.adrop)([claim])
            if row is not None and row.status == "canceled" and row.lease == claim.lease:
                del self.model.rows[task_id]
        else:
            assert holds
            del self.model.rows[task_id]
            self.model.done[task_id] += 1
            if follow:
                self._owe(claim.run_id, nxt)
        self.model.held[worker].discard(claim)

    @rule(worker=st.sampled_from(WORKERS))
    def a_worker_dies(self, worker: str) -> None:
        self.model.held[worker].clear()

    # -- time and the sweepers ---------------------------------------------------------------------------
    @rule(ms=st.sampled_from([1, 200, LEASE // 2, LEASE, LEASE + 1, 3 * LEASE]))
    def time_passes(self, ms: int) -> None:
        self.model.now += ms

    @rule(sweeper=st.sampled_from(["s1", "s2"]))
    def a_sweeper_sweeps(self, sweeper: str) -> None:
        taken = async_to_sync(self.storage.asweep)([QUEUE])
        model = self.model
        expired = [
            task_id
            for task_id, row in model.rows.items()
            if row.status != "queued" and row.lease_until is not None and row.lease_until < model.now
        ]
        back = 0
        for task_id in expired:
            row = model.rows[task_id]
            if row.status == "canceled":
                del model.rows[task_id]
                continue
            row.status, row.owner, row.available_at = "queued", "", model.now
            row.deliveries += 1
            model.takebacks[task_id] += 1
            back += 1
        assert taken == back

    # -- cancel and restart ------------------------------------------------------------
    @precondition(lambda self: bool(self.runs))
    @rule(pick=st.integers(0, 50))
    def a_run_is_canceled(self, pick: int) -> None:
        run_id = self.runs[pick % len(self.runs)]
        change = Change(run={"status": "canceled"}, reset="cancel")
        async_to_sync(self.storage.atransact)(run_id, lambda run: change)
        for task_id, row in list(self.model.rows.items()):
            if task_id[0] == run_id:
                if row.status == "running":
                    row.status = "canceled"
                elif row.status == "queued":
                    del self.model.rows[task_id]
        self.model.canceled.add(run_id)

    @precondition(lambda self: bool(self.runs))
    @rule(pick=st.integers(0, 50))
    def a_run_is_restarted(self, pick: int) -> None:
        """Its work is handed out anew, in the commit that drops the old rows."""
        run_id = self.runs[pick % len(self.runs)]
        owed = sorted({key for (rid, key, _), row in self.model.rows.items() if rid == run_id})
        rows = [self._row(key) for key in owed]
        change = Change(run={"status": "running"}, reset="drop", tasks=rows)
        async_to_sync(self.storage.atransact)(run_id, lambda run: change)
        for task_id in [task_id for task_id in self.model.rows if task_id[0] == run_id]:
            del self.model.rows[task_id]
        for row in rows:
            self._owe(run_id, row)
        self.model.canceled.discard(run_id)

    # -- what must always hold --------------------------------------------------------
    @invariant()
    def the_database_holds_exactly_what_is_owed(self) -> None:
        stored = {
            (t.run_id, t.key, t.handout): Row(
                order=0,
                available_at=t.available_at,
                status=t.status,
                owner=t.owner,
                lease=t.lease,
                lease_until=t.lease_until,
                deliveries=t.deliveries,
            )
            for t in WorkflowTask.objects.all()
        }
        expected = {task_id: replace(row, order=0) for task_id, row in self.model.rows.items()}
        for task_id, row in stored.items():
            model_row = expected.get(task_id)
            assert model_row is not None, f"{task_id} is in the database but owes nothing"
            if row.status == "queued":  # a queued row's old lease end means nothing
                row.lease_until = model_row.lease_until = None
            assert row == model_row, task_id
        assert set(stored) == set(expected), "something owed is missing"

    @invariant()
    def at_most_one_live_lease_per_task(self) -> None:
        holders: Counter[TaskId] = Counter()
        for claims in self.model.held.values():
            for claim in claims:
                row = self.model.rows.get((claim.run_id, claim.key, claim.handout))
                if row is not None and row.status == "running" and row.lease == claim.lease:
                    holders[(claim.run_id, claim.key, claim.handout)] += 1
        assert all(count == 1 for count in holders.values())

    @invariant()
    def no_result_is_stored_twice(self) -> None:
        stored = Counter(
            tuple(payload["task"]) for payload in WorkflowEvent.objects.values_list("payload", flat=True)
        )
        assert all(count == 1 for count in stored.values())
        assert stored == self.model.done

    @invariant()
    def deliveries_rise_only_when_an_expired_lease_is_taken_back(self) -> None:
        for task_id, row in self.model.rows.items():
            assert row.deliveries == self.model.takebacks[task_id]

    @invariant()
    def every_row_can_move(self) -> None:
        for task_id, row in self.model.rows.items():
            if row.status == "queued":
                continue  # a worker claims it once due
            assert row.lease_until is not None, task_id  # held rows expire, then a sweep moves them
            if task_id[0] in self.model.canceled:
                assert row.status == "canceled"


@pytest.mark.timeout(900)  # 120 examples of 40 steps on a real database: minutes on a loaded machine
@pytest.mark.django_db(transaction=True)
def test_the_task_protocol_holds_under_any_interleaving() -> None:
    examples = 60 if connection.vendor == "postgresql" else 120
    run = settings(
        max_examples=examples,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )(TaskProtocol)
    run.TestCase().runTest()
