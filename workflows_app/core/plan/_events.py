"""The waiting side of ``plan``: resumes, timers, and steps that wait on an event or a deadline.

A suspended task may wait on an event (``task["wait"]``: its name and key) and
may have a deadline (``task["deadline"]``: when, and the number its timer
quotes). Neither makes the run busy: a run whose steps only wait is
``suspended``. The ids of the events a run took are kept in ``received``, so a
delivery that comes twice (a sender and the run's own look for kept events)
changes nothing the second time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class EventMixin:
    """Resumes, timers, waiting on events and deadlines; methods of :class:`plan.Planner`."""

    s: dict[str, Any]
    now: int
    actions: list[dict[str, Any]]

    if TYPE_CHECKING:

        def emit(self, event_type: str, payload: dict[str, Any]) -> None: ...
        def next_order(self) -> int: ...
        def record(self, task: dict[str, Any], status: str, **fields: Any) -> None: ...
        def hand_out(self, key: str, task: dict[str, Any]) -> None: ...
        def start_payload(self, key: str, task: dict[str, Any]) -> dict[str, Any]: ...
        def mark_ancestors_running(self, fkey: str) -> None: ...
        def mark_foreach_resumed(self, fkey: str | None, data: Any) -> None: ...
        def on_sleep_timer(self, key: str, fkey: str) -> None: ...

    def wait_for_event(self, key: str, task: dict[str, Any], wait: dict[str, Any]) -> None:
        """Record what the suspended task waits for, and owe a look for an event sent before it.

        The look is a task row of its own (``match``), done after this commit: an
        event sent while this commit was in flight is then either seen by that
        look or sees this wait.
        """
        task["wait"] = {"event": wait["event"], "key": wait.get("key")}
        self.actions.append({"type": "match", "key": key, "n": self.next_order()})
        self.emit(
            "workflow-step-event-waiting",
            {
                "id": task["path"],
                "event": wait["event"],
                "key": wait.get("key"),
                "timeout_at": (task.get("deadline") or {}).get("at"),
            },
        )

    def arm_deadline(self, key: str, task: dict[str, Any], timeout_ms: int) -> int:
        """Give a suspended task a durable deadline ``timeout_ms`` from now; returns when it is due."""
        task["deadline"] = {"at": self.now + timeout_ms, "n": self.next_order()}
        self.actions.append({"type": "timer", "key": key, **task["deadline"]})
        return int(task["deadline"]["at"])

    def rearm_deadlines(self) -> None:
        """Arm the deadlines of suspended tasks again, under new numbers (a restart dropped their rows)."""
        for key, task in self.s["tasks"].items():
            if task["status"] == "suspended" and "deadline" in task:
                task["deadline"]["n"] = self.next_order()
                self.actions.append({"type": "timer", "key": key, **task["deadline"]})

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
        self.emit("workflow-step-timed-out", {"id": task["path"], "timeout_at": deadline.get("at")})
        self.on_resume([key], None, timed_out=True)

    def on_event(self, event: dict[str, Any], keys: list[str]) -> None:
        """An event sent to the run: the tasks of ``keys`` still waiting on it resume with its data.

        Each event is taken by a run at most once (its id is kept in
        ``received``), so a sender and the run's own look for kept events that
        race deliver it once; a task that stopped waiting meanwhile is left alone.
        """
        received = self.s.setdefault("received", [])
        if event["id"] in received:
            return
        waiting = [
            key
            for key in keys
            if key in self.s["tasks"]
            and self.s["tasks"][key]["status"] == "suspended"
            and (self.s["tasks"][key].get("wait") or {}).get("event") == event["name"]
        ]
        if not waiting:
            return
        received.append(event["id"])
        for key in waiting:
            wait = self.s["tasks"][key]["wait"]
            payload = {"id": self.s["tasks"][key]["path"], "event": event["name"], "key": wait.get("key")}
            self.emit("workflow-step-event-received", {**payload, "event_id": event["id"]})
        self.on_resume(waiting, event.get("data"))

    def waits(self) -> list[list[Any]]:
        """What the run's suspended tasks wait for: ``[task key, event name, key]`` each."""
        return [
            [key, task["wait"]["event"], task["wait"].get("key")]
            for key, task in self.s["tasks"].items()
            if task.get("wait") and task["status"] == "suspended"
        ]

    # -- resume and timers --------------------------------------------------------
    def on_resume(self, keys: list[str], data: Any, *, timed_out: bool = False) -> None:
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
            task["resumed_at"] = self.now
            label = task.pop("label", None)
            if label:
                self.s["labels"].pop(label, None)
            self.record(task, "running")
            self.mark_ancestors_running(task["frame"])
            self.mark_foreach_resumed(task["frame"], data)
            self.emit("workflow-step-start", self.start_payload(key, task))
            self.hand_out(key, task)

    def arm_timer(self, key: str, fkey: str, due: int) -> None:
        """Arm a timer under a new number, which its firing quotes (like a task's hand-out)."""
        timer = {"at": due, "frame": fkey, "n": self.next_order()}
        self.s["timers"][key] = timer
        self.actions.append({"type": "timer", "key": key, "at": due, "n": timer["n"]})

    def on_timer(self, key: str, number: int | None = None) -> None:
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
            task["started_at"] = self.now
            self.record(task, "running")
            self.hand_out(key, task)
        else:
            self.on_sleep_timer(key, timer["frame"])
