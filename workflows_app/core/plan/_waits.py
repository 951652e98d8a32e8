"""Arming what wakes a run later: timers, deadlines, and waits on events.

Each armed timer or deadline carries a new number (``n``) that its firing
quotes, like a task's hand-out, so a firing of an earlier arming (before a
restart, a retry, a time travel) is told apart and ignored. A suspended task
may wait on an event (``task["wait"]``) and may have a deadline
(``task["deadline"]``); neither makes the run busy, so a run whose steps only
wait is ``suspended``. What happens when they fire is :mod:`._wakeups`.
"""

from __future__ import annotations

from typing import Any

from ._core import RunCore
from ._state import DEADLINE


class Waits:
    """Timers of the run, deadlines of suspended tasks, the workflow's timeout, event waits."""

    def __init__(self, core: RunCore) -> None:
        self.core = core
        self.s = core.s

    def arm_timer(self, key: str, fkey: str, due: int) -> None:
        """Arm a timer under a new number, which its firing quotes (like a task's hand-out)."""
        timer = {"at": due, "frame": fkey, "n": self.core.next_order()}
        self.s["timers"][key] = timer
        self.core.actions.append({"type": "timer", "key": key, "at": due, "n": timer["n"]})

    def arm_run_timeout(self, due: int | None = None) -> None:
        """Owe a timer that fails the run when its workflow's ``timeout`` is up.

        It is kept apart from ``timers``: those keep a run from settling, while the
        deadline runs on through suspensions (a run's timeout bounds its whole life).
        """
        root = self.core.root
        if root.timeout is None:
            return
        if due is None:
            due = self.core.now + round(root.timeout * 1000)
        deadline = {"at": due, "n": self.core.next_order()}
        self.s["deadline"] = deadline
        self.core.actions.append({"type": "timer", "key": DEADLINE, "at": due, "n": deadline["n"]})

    def arm_deadline(self, key: str, task: dict[str, Any], timeout_ms: int) -> int:
        """Give a suspended task a durable deadline ``timeout_ms`` from now; returns when it is due."""
        task["deadline"] = {"at": self.core.now + timeout_ms, "n": self.core.next_order()}
        self.core.actions.append({"type": "timer", "key": key, **task["deadline"]})
        return int(task["deadline"]["at"])

    def rearm_deadlines(self) -> None:
        """Arm the deadlines of suspended tasks again, under new numbers (a restart dropped their rows)."""
        for key, task in self.s["tasks"].items():
            if task["status"] == "suspended" and "deadline" in task:
                task["deadline"]["n"] = self.core.next_order()
                self.core.actions.append({"type": "timer", "key": key, **task["deadline"]})

    def wait_for_event(self, key: str, task: dict[str, Any], wait: dict[str, Any]) -> None:
        """Record what the suspended task waits for, and owe a look for an event sent before it.

        The look is a task row of its own (``match``), done after this commit: an
        event sent while this commit was in flight is then either seen by that
        look or sees this wait.
        """
        task["wait"] = {"event": wait["event"], "key": wait.get("key")}
        self.core.actions.append({"type": "match", "key": key, "n": self.core.next_order()})
        self.core.emit(
            "workflow-step-event-waiting",
            {
                "id": task["path"],
                "event": wait["event"],
                "key": wait.get("key"),
                "timeout_at": (task.get("deadline") or {}).get("at"),
            },
        )

    def waits(self) -> list[list[Any]]:
        """What the run's suspended tasks wait for: ``[task key, event name, key]`` each."""
        return [
            [key, task["wait"]["event"], task["wait"].get("key")]
            for key, task in self.s["tasks"].items()
            if task.get("wait") and task["status"] == "suspended"
        ]
