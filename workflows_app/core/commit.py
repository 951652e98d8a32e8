"""What one application of ``plan`` decided, sorted by where each part goes.

Both engines turn ``plan``'s actions into the same :class:`Decision`: run columns,
step rows and events to write, tasks to hand out, timers to arm, and whether the
run's other work is canceled. Only where the tasks go (which queue, claimed by
whom) differs between engines; that is decided where the decision is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .storage import RunRecord, StepRecord

SETTLE = "settle"


@dataclass
class Decision:
    """One plan step: what to write and what work it owes."""

    state: dict[str, Any]
    run: dict[str, Any]
    steps: list[StepRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    timers: list[tuple[str, int, int]] = field(default_factory=list)  # key, due (epoch ms), number
    matches: list[tuple[str, int]] = field(default_factory=list)  # key, number: looks for kept events
    waits: list[list[Any]] | None = None  # what the run's tasks wait for now, when that changed
    cancels: bool = False
    # Set once written: the run as this commit left it.
    record: RunRecord | None = None

    @property
    def status(self) -> str:
        return str(self.run["status"])

    @property
    def settled(self) -> bool:
        return self.status != "running"


def decide(state: dict[str, Any], actions: list[dict[str, Any]]) -> Decision:
    """Sort ``actions`` and derive the run row's columns from ``state``."""
    status = state["status"]
    run: dict[str, Any] = {
        "status": status,
        "run_state": state,
        "state": state["state"],
        "request_context": state.get("context", {}),
    }
    settles = [action for action in actions if action["type"] == SETTLE and action["status"] == "success"]
    if status == "success" and settles:  # the result is the settle's, never kept in the run state
        run["result"] = settles[-1].get("result")
    elif status == "failed":
        run["error"] = state["error"]
    decision = Decision(state=state, run=run)
    for action in actions:
        kind = action["type"]
        if kind == "record":
            decision.steps.append(action["record"])
        elif kind == "event":
            decision.events.append(action["event"])
        elif kind == "run":
            decision.runs.append((action["key"], action["task"]))
        elif kind == "timer":
            decision.timers.append((action["key"], action["at"], action["n"]))
        elif kind == "match":
            decision.matches.append((action["key"], action["n"]))
        elif kind == "waits":
            decision.waits = action["waits"]
        elif kind == "cancel-tasks":
            decision.cancels = True
    return decision
