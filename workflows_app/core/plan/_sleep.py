"""The handler of ``sleep`` and ``sleep_until`` entries: a durable timer of the run.

The sleep keeps a row of its own (``node["row"]``: where it is; the row holds
its payload). A duration or instant given as a function is user code, so it is
a helper task whose answer arms the timer; either way the timer is a task row
due later, so no worker sleeps through it and a restart keeps its wake time.
"""

from __future__ import annotations

from typing import Any

from ..graph import Entry, SleepEntry, expect, sleep_value
from ._frames import NodeHandler
from ._state import sleep_key, step_path


def sleep_due(spec: Any, now: int, *, until: bool) -> int:
    """When a sleep entry ends, in epoch ms: ``now`` plus seconds, or a given instant."""
    value = sleep_value(spec)
    return int(value) if until else now + int(float(value or 0) * 1000)


class SleepNode(NodeHandler):
    """``sleep`` / ``sleep_until``: completes when its timer fires; its output is its input."""

    entry = SleepEntry
    kinds = ("sleep",)

    def start(self, fkey: str, frame: dict[str, Any], entry: Entry, data: Any) -> None:
        """Record the sleep as waiting, then arm its timer, or first ask its function when."""
        sleep = expect(entry, SleepEntry)
        now = self.core.now
        path = step_path(frame["scope"], sleep.id)
        row = {"path": path, "started_at": now, "iter": frame["iter"]}
        frame["node"] = {"kind": "sleep", "row": row}
        self.core.record({**row, "input": data}, "waiting")
        self.core.emit(
            "workflow-step-waiting",
            {"id": path, "step_name": sleep.id, "payload": data, "started_at": now, "status": "waiting"},
        )
        spec = sleep.until if sleep.until is not None else sleep.duration
        if callable(spec):
            self.frames.tasks.schedule_helper(
                sleep_key(fkey, frame["i"]), fkey, frame["i"], "sleep-duration", data
            )
        else:
            self.arm(fkey, frame, sleep_due(spec, now, until=sleep.until is not None))

    def helper_done(self, fkey: str, frame: dict[str, Any], task: dict[str, Any], value: Any) -> None:
        """The sleep function answered: a duration in seconds, or an instant."""
        sleep = expect(self.core.entry_of(frame), SleepEntry)
        self.arm(fkey, frame, sleep_due(value, self.core.now, until=sleep.until is not None))

    def arm(self, fkey: str, frame: dict[str, Any], due: int) -> None:
        """The timer is keyed by the entry's place, so a restart re-arms the same sleep."""
        self.waits.arm_timer(sleep_key(fkey, frame["i"]), fkey, due)

    def timer(self, fkey: str, frame: dict[str, Any]) -> None:
        """The sleep is over: its row succeeds with its input as output, and the frame moves on."""
        row = frame["node"]["row"]
        output = self.core.value(frame)
        self.core.rewrite(row, "success", output=output, ended_at=self.core.now)
        self.core.emit(
            "workflow-step-result",
            {"id": row["path"], "status": "success", "output": output, "ended_at": self.core.now},
        )
        self.frames.entry_done(fkey, frame["prev"])
