"""What wakes a run: resumes, sent events, deadlines of suspended steps, and timers firing.

Each applies at most once. A firing quotes the number of the arming it
answers (:mod:`._waits`), so a late one finds another number and changes
nothing; the ids of the events a run took are kept in ``received``, so a
delivery that comes twice (a sender and the run's own look for kept events)
changes nothing the second time.
"""

from __future__ import annotations

from typing import Any

from ._core import RunCore
from ._frames import Frames
from ._tasks import Tasks


class Wakeups:
    """The ``resume``, ``event`` and ``timer`` events (but the workflow's timeout)."""

    def __init__(self, core: RunCore, tasks: Tasks, frames: Frames) -> None:
        self.core = core
        self.tasks = tasks
        self.frames = frames
        self.s = core.s

    def on_resume(self, keys: list[str], data: Any, *, timed_out: bool = False) -> None:
        """The suspended tasks of ``keys`` run again with ``data`` (their ``resume_data``)."""
        self.s["status"] = "running"
        for key in keys:
            task = self.s["tasks"][key]
            task["status"] = "running"
            for name in ("deadline", "wait", "timed_out"):
                task.pop(name, None)
            if timed_out:
                task["timed_out"] = True
            task["resume"] = data
            task["resume_payload"] = data
            task["resumed_at"] = self.core.now
            label = task.pop("label", None)
            if label:
                self.s["labels"].pop(label, None)
            self.core.record(task, "running")
            self.frames.show_resumed(task["frame"], data)
            self.core.emit("workflow-step-start", self.tasks.start_payload(key, task))
            self.core.hand_out(key, task)

    def on_event(self, event: dict[str, Any], keys: list[str]) -> None:
        """An event sent to the run: the tasks of ``keys`` still waiting on it resume with its data.

        Each event is taken by a run at most once (its id is kept in
        ``received``), so a sender and the run's own look for kept events that
        race deliver it once; a task that stopped waiting meanwhile is left alone.
        """
        received = self.s.setdefault("received", [])
        if event["id"] in received:
            return
        tasks = self.s["tasks"]
        waiting = [
            key
            for key in keys
            if key in tasks
            and tasks[key]["status"] == "suspended"
            and (tasks[key].get("wait") or {}).get("event") == event["name"]
        ]
        if not waiting:
            return
        received.append(event["id"])
        for key in waiting:
            wait = tasks[key]["wait"]
            payload = {"id": tasks[key]["path"], "event": event["name"], "key": wait.get("key")}
            self.core.emit("workflow-step-event-received", {**payload, "event_id": event["id"]})
        self.on_resume(waiting, event.get("data"))

    def on_deadline(self, key: str, number: int | None) -> None:
        """A suspended task's timeout: it runs again with no resume data and ``timed_out`` set.

        A deadline is not one of the run's timers (a run that only waits is
        ``suspended``, not running); it lives on its task, and a resume removes
        it, so a firing that finds it gone, or armed again, changes nothing.
        """
        task = self.s["tasks"].get(key)
        if task is None or task["status"] != "suspended" or self.s["status"] not in ("running", "suspended"):
            return
        deadline = task.get("deadline") or {}
        if number is not None and deadline.get("n") != number:
            return
        self.core.emit("workflow-step-timed-out", {"id": task["path"], "timeout_at": deadline.get("at")})
        self.on_resume([key], None, timed_out=True)

    def on_timer(self, key: str, number: int | None = None) -> None:
        """A timer fired: a retry's wait is over, or a node's timer (a sleep's) is due."""
        timer = self.s["timers"].get(key)
        if timer is None:
            self.on_deadline(key, number)
            return
        if self.s["status"] != "running":
            return
        if number is not None and timer.get("n") != number:
            return  # an earlier arming of this key (a retry delay, a loop's sleep) fired late
        del self.s["timers"][key]
        task = self.s["tasks"].get(key)
        if task is not None:  # a retry's wait is over
            task["status"] = "running"
            task["started_at"] = self.core.now
            self.core.record(task, "running")
            self.core.hand_out(key, task)
        else:
            self.frames.timer(timer["frame"])
