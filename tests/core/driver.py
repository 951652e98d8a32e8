"""Drive the pure ``plan`` by hand: build graphs of no-op steps and feed their completions back.

A *shape* is plain data describing a workflow, so that hypothesis can draw it and
print it when a property fails:

- ``("step",)``: a no-op step;
- ``("parallel", [child, ...])`` and ``("branch", [(taken, child), ...])``;
- ``("foreach", items, concurrency, child)``: a feeder step outputs ``items``
  values, then ``child`` runs once per value;
- ``("loop", times, child)``: ``dountil`` that stops after ``times`` iterations;
- ``("sleep", seconds)`` and ``("nested", [entry, ...])`` (a nested workflow).

Children are ``("step",)`` or ``("nested", [...])``. :class:`Driver` plays the
engine: it applies ``plan``, answers every ``run`` action with a completion that
depends only on the task (never on time or order), and fires timers; a
``choose`` function picks which pending completion is delivered next.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from workflows_app import Workflow, create_step, create_workflow
from workflows_app.core.graph import BranchEntry, LoopEntry
from workflows_app.core.plan import Rows, StepTable, new_state, plan
from workflows_app.core.storage import StepRecord

Shape = tuple[Any, ...]
_ids = itertools.count(1)


class Constant:
    """A branch condition with a fixed answer, readable by the driver."""

    def __init__(self, value: bool) -> None:
        self.value = value

    def __call__(self, ctx: Any) -> bool:
        return self.value


class AfterIterations:
    """A ``dountil`` condition that is true from iteration ``times`` on."""

    def __init__(self, times: int) -> None:
        self.times = times

    def __call__(self, ctx: Any) -> bool:
        return bool(ctx.iteration_count >= self.times)


async def _never_called(ctx: Any) -> Any:
    raise AssertionError("plan must not run user code")


@dataclass
class Built:
    """A committed workflow and how often each step path must run to complete it."""

    workflow: Workflow
    expected: Counter[str] = field(default_factory=Counter)
    feeders: dict[str, int] = field(default_factory=dict)


class Builder:
    """Turns a shape into committed workflows with ids unique to this build."""

    def __init__(self) -> None:
        self.build_id = next(_ids)
        self.counter = itertools.count(1)
        self.expected: Counter[str] = Counter()
        self.feeders: dict[str, int] = {}

    def new_id(self, kind: str) -> str:
        return f"{kind}{next(self.counter)}"

    def build(self, entries: Sequence[Shape]) -> Built:
        workflow = self.workflow(f"core-prop-{self.build_id}", entries, "", 1)
        return Built(workflow, self.expected, self.feeders)

    def workflow(self, workflow_id: str, entries: Sequence[Shape], scope: str, runs: int) -> Workflow:
        workflow = create_workflow(workflow_id, validate_inputs=False)
        for shape in entries:
            self.add(workflow, shape, scope, runs)
        return workflow.commit()

    def child(self, shape: Shape, scope: str, runs: int) -> Any:
        """A step or a nested workflow, counting ``runs`` executions of each step in it."""
        if shape[0] == "nested":
            nested_id = f"core-prop-{self.build_id}-{self.new_id('wf')}"
            return self.workflow(nested_id, shape[1], _join(scope, nested_id), runs)
        step_id = self.new_id("step")
        self.expected[_join(scope, step_id)] += runs
        return create_step(step_id, execute=_never_called)

    def add(self, workflow: Workflow, shape: Shape, scope: str, runs: int) -> None:
        kind = shape[0]
        if kind in ("step", "nested"):
            workflow.then(self.child(shape, scope, runs))
        elif kind == "parallel":
            workflow.parallel([self.child(c, scope, runs) for c in shape[1]])
        elif kind == "branch":
            arms = [(Constant(taken), self.child(c, scope, runs if taken else 0)) for taken, c in shape[1]]
            workflow.branch(arms)
        elif kind == "foreach":
            _, items, concurrency, child = shape
            feeder = self.new_id("feed")
            self.feeders[_join(scope, feeder)] = items
            self.expected[_join(scope, feeder)] += runs
            workflow.then(create_step(feeder, execute=_never_called))
            workflow.foreach(self.child(child, scope, runs * items), concurrency=concurrency)
        elif kind == "loop":
            _, times, child = shape
            workflow.dountil(self.child(child, scope, runs * times), AfterIterations(times))
        elif kind == "sleep":
            workflow.sleep(shape[1])
        else:
            raise ValueError(kind)


def _join(scope: str, step_id: str) -> str:
    return f"{scope}.{step_id}" if scope else step_id


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def json_round_trip_row(row: StepRecord) -> StepRecord:
    """A step row as a storage gives it back: its values through JSON."""
    return replace(row, **{name: json_round_trip(getattr(row, name)) for name in ("payload", "output")})


def json_round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value))


@dataclass
class Applied:
    """One application of ``plan``: the event, and copies of the state and actions after it."""

    event: dict[str, Any]
    state: dict[str, Any]
    actions: list[dict[str, Any]]


Chooser = Callable[[list[str]], int]


class Driver:
    """Plays the engine for one run of ``built``, delivering completions in the order chosen."""

    def __init__(self, built: Built, choose: Chooser | None = None, *, run_id: str = "core-run") -> None:
        self.built = built
        self.choose: Chooser = choose or (lambda keys: 0)
        self.state = new_state(run_id)
        self.now = 1_000
        self.pending: dict[str, dict[str, Any]] = {}
        self.history: list[Applied] = []
        self.table = StepTable()  # the step rows, as a storage would keep them

    @property
    def rows(self) -> Rows:
        """The step rows as the next commit sees them."""
        return Rows(self.table, self.state["run_id"])

    @property
    def result(self) -> Any:
        """The run's result, as the commit that ended it wrote it to the run row."""
        settles = [a for h in self.history for a in h.actions if a["type"] == "settle" and "result" in a]
        return settles[-1]["result"] if settles else None

    def apply(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Apply one event; every state on the way must survive JSON unchanged."""
        self.state, actions = plan(self.built.workflow, self.state, event, rows=self.rows)
        assert json_round_trip(self.state) == self.state
        for action in actions:
            if action["type"] == "record":
                self.table.write(json_round_trip_row(action["record"]))
        applied = Applied(copy.deepcopy(event), copy.deepcopy(self.state), copy.deepcopy(actions))
        self.history.append(applied)
        for action in applied.actions:
            self.follow(action)
        return applied.actions

    def follow(self, action: dict[str, Any]) -> None:
        kind = action["type"]
        if kind == "run":
            self.pending[action["key"]] = {
                "type": "task-done",
                "key": action["key"],
                "handout": action["task"]["handout"],
                "outcome": self.outcome(action["task"]),
            }
        elif kind == "timer":
            self.pending[action["key"]] = {
                "type": "timer",
                "key": action["key"],
                "handout": action["n"],
                "at": action["at"],
            }
        elif kind == "cancel-tasks":
            self.pending.clear()

    def outcome(self, task: dict[str, Any]) -> dict[str, Any]:
        """What the task's user code would return: a function of the task alone."""
        if task["kind"] == "step":
            items = self.built.feeders.get(task["path"])
            output: Any = list(range(items)) if items is not None else {"step": task["step"]}
            if items is None:
                output["in"] = digest(task["input"])
            return {"status": "success", "output": output}
        entry = self.entry_of(task)
        if task["kind"] == "conditions":
            assert isinstance(entry, BranchEntry)
            return {"status": "success", "output": [cond(None) for cond, _ in entry.branches]}
        assert task["kind"] == "loop-condition"
        assert isinstance(entry, LoopEntry)
        return {"status": "success", "output": task["iteration"] >= entry.condition.times}  # type: ignore[attr-defined]

    def entry_of(self, task: dict[str, Any]) -> Any:
        workflow_id = self.state["frames"][task["frame"]]["wf"]
        return self.built.workflow.nested_workflows()[workflow_id].entries[task["entry"]]

    def tick(self, at: int = 0) -> int:
        self.now = max(self.now + 1, at)
        return self.now

    def start(self, input_data: Any = None) -> None:
        self.apply({"type": "start", "input": input_data, "state": {}, "context": {}, "now": self.tick()})

    def deliver(self, key: str) -> list[dict[str, Any]]:
        """Deliver the pending completion or timer of ``key``."""
        pending = self.pending.pop(key)
        event = {k: v for k, v in pending.items() if k != "at"}
        event["now"] = self.tick(pending.get("at", 0))
        return self.apply(event)

    def run(self, input_data: Any = None) -> None:
        """Start, then deliver completions in the chosen order until nothing is pending."""
        self.start(input_data)
        self.run_pending()

    def run_pending(self) -> None:
        """Deliver completions in the chosen order until nothing is pending."""
        while self.pending:
            keys = sorted(self.pending)
            self.deliver(keys[self.choose(keys) % len(keys)])

    # -- reading what happened ---------------------------------------------------
    @property
    def events(self) -> list[dict[str, Any]]:
        return [a["event"] for h in self.history for a in h.actions if a["type"] == "event"]

    @property
    def handed_out(self) -> list[dict[str, Any]]:
        return [a["task"] for h in self.history for a in h.actions if a["type"] == "run"]

    def final_rows(self) -> dict[tuple[Any, ...], tuple[str, Any]]:
        """The last written status and output of every step row coordinate."""
        rows: dict[tuple[Any, ...], tuple[str, Any]] = {}
        for h in self.history:
            for action in h.actions:
                if action["type"] == "record":
                    row = action["record"]
                    rows[row.coordinate] = (row.status, row.output)
        return rows
