"""The handlers of the entries that route a value: ``then`` (and ``map``), ``parallel``, ``branch``, loops.

Each is a :class:`._frames.NodeHandler`; the node kinds they write into the run
state are ``one``, ``multi`` (the join of a parallel, and of the arms a branch
chose), ``branch`` (waiting for its conditions) and ``loop``. A ``map`` is a
step entry whose step is the mapping, so ``then`` starts it; a nested workflow
is a child like a step (:meth:`._frames.Frames.start_child`).
"""

from __future__ import annotations

from typing import Any

from ..errors import LoopLimitError, serialize_error
from ..graph import BranchEntry, Entry, LoopEntry, ParallelEntry, StepEntry, expect
from ._frames import ONE, Frames, NodeHandler
from ._rows import Ref
from ._state import child_key, helper_key
from ._travel import history_ref

MULTI = "multi"


def start_together(
    frames: Frames, fkey: str, frame: dict[str, Any], components: list[Any], data: Any
) -> None:
    """Start ``components`` side by side on ``data``, joined by a ``multi`` node."""
    i = frame["i"]
    keys = [child_key(fkey, i, c.id) for c in components]
    frame["node"] = {"kind": MULTI, "children": keys, "ids": [c.id for c in components], "results": {}}
    if not components:
        frames.entry_done(fkey, ["ids", {}])
        return
    for component in components:
        frames.start_child(fkey, i, component, data)


class StepNode(NodeHandler):
    """``then`` (and ``map``): one child, whose output is the entry's."""

    entry = StepEntry
    kinds = (ONE,)

    def start(self, fkey: str, frame: dict[str, Any], entry: Entry, data: Any) -> None:
        """The step (a map's mapping, a nested workflow) runs on the entry's input."""
        frame["node"] = {"kind": ONE}
        self.frames.start_child(fkey, frame["i"], expect(entry, StepEntry).step, data)


class ParallelNode(NodeHandler):
    """``parallel``: every child runs; the output is ``{id: output}`` once all settled."""

    entry = ParallelEntry
    kinds = (MULTI,)
    stages_state = True
    keyed_output = True

    def start(self, fkey: str, frame: dict[str, Any], entry: Entry, data: Any) -> None:
        """Every child runs on the same input; none sees another's state changes before the join."""
        start_together(self.frames, fkey, frame, list(expect(entry, ParallelEntry).steps), data)

    def child_settled(
        self, fkey: str, frame: dict[str, Any], key: str, status: str, value: Any, ref: Ref | None
    ) -> None:
        """Keep where the child's output is (or its error); the last child completes the join."""
        result = {"status": status, "ref": ref} if status == "success" else {"status": status, "value": value}
        frame["node"]["results"][key] = result
        self.join(fkey, frame)

    def join(self, fkey: str, frame: dict[str, Any]) -> None:
        """Once every child settled: merge their state changes and complete, or fail on a failure."""
        node = frame["node"]
        if len(node["results"]) < len(node["children"]):
            return
        self.frames.tasks.flush_state(
            node, [key for key in node["children"] if key in node.get("deltas", {})]
        )
        entry = self.core.entry_of(frame)
        # a branch's chosen arms join here too; only a parallel may allow failures
        allow_failure = isinstance(entry, ParallelEntry) and entry.allow_failure
        output: dict[str, Any] = {}
        for key, step_id in zip(node["children"], node["ids"], strict=True):
            result = node["results"][key]
            if result["status"] != "success" and not allow_failure:
                self.frames.frame_failed(fkey, result["value"])
                return
            output[step_id] = result["ref"] if result["status"] == "success" else None
        self.frames.entry_done(fkey, ["ids", output])

    def travel(
        self, fkey: str, frame: dict[str, Any], entry: Entry, target: str, history: dict[str, Any]
    ) -> None:
        """Only ``target`` runs; its siblings keep the outputs the history gives them."""
        steps = expect(entry, ParallelEntry).steps
        i = frame["i"]
        keys = [child_key(fkey, i, c.id) for c in steps]
        results = {}
        for key, component in zip(keys, steps, strict=True):
            if component.id != target:
                results[key] = {"status": "success", "ref": history_ref(frame, component.id, history)}
        frame["node"] = {"kind": MULTI, "children": keys, "ids": [c.id for c in steps], "results": results}
        component = next(c for c in steps if c.id == target)
        self.frames.start_child(fkey, i, component, self.core.value(frame))


class BranchNode(NodeHandler):
    """``branch``: one task evaluates every condition, then the true arms run as a parallel."""

    entry = BranchEntry
    kinds = ("branch",)
    keyed_output = True

    def start(self, fkey: str, frame: dict[str, Any], entry: Entry, data: Any) -> None:
        """The conditions are user code: one helper task evaluates them all."""
        frame["node"] = {"kind": "branch"}
        self.frames.tasks.schedule_helper(helper_key(fkey, frame["i"]), fkey, frame["i"], "conditions", data)

    def helper_done(self, fkey: str, frame: dict[str, Any], task: dict[str, Any], value: Any) -> None:
        """The conditions answered one boolean per arm: the true arms run, joined as a parallel."""
        branch = expect(self.core.entry_of(frame), BranchEntry)
        chosen = [component for (_, component), ok in zip(branch.branches, value or [], strict=True) if ok]
        start_together(self.frames, fkey, frame, chosen, task["input"])

    def travel(
        self, fkey: str, frame: dict[str, Any], entry: Entry, target: str, history: dict[str, Any]
    ) -> None:
        """Only the ``target`` arm runs, as if its condition alone had been true."""
        i = frame["i"]
        frame["node"] = {
            "kind": MULTI,
            "children": [child_key(fkey, i, target)],
            "ids": [target],
            "results": {},
        }
        component = next((c for c in expect(entry, BranchEntry).steps if c.id == target), None)
        self.frames.start_child(fkey, i, component, self.core.value(frame))


class LoopNode(NodeHandler):
    """``dowhile`` / ``dountil``: the step runs, then its condition task says whether again."""

    entry = LoopEntry
    kinds = ("loop",)

    def start(self, fkey: str, frame: dict[str, Any], entry: Entry, data: Any) -> None:
        """The first iteration runs at once: both loops test their condition after the step."""
        frame["node"] = {"kind": "loop", "iteration": 1}
        self.frames.start_child(fkey, frame["i"], expect(entry, LoopEntry).step, data, iteration=1, loop=True)

    def child_settled(
        self, fkey: str, frame: dict[str, Any], key: str, status: str, value: Any, ref: Ref | None
    ) -> None:
        """An iteration succeeded: its output is kept by row, and the condition task decides."""
        if status != "success" or ref is None:
            self.frames.frame_failed(fkey, value)
            return
        node = frame["node"]
        node["last"] = ref
        i = frame["i"]
        self.frames.tasks.schedule_helper(
            helper_key(fkey, i), fkey, i, "loop-condition", value, iteration=node["iteration"]
        )

    def helper_done(self, fkey: str, frame: dict[str, Any], task: dict[str, Any], value: Any) -> None:
        """The condition answered ``value`` on the last iteration's output (the task's input)."""
        entry = expect(self.core.entry_of(frame), LoopEntry)
        node = frame["node"]
        again = not value if entry.until else bool(value)
        if not again:
            self.frames.entry_done(fkey, node["last"])
            return
        limit = self.core.max_loop_iterations
        if limit is not None and node["iteration"] >= limit:
            message = (
                f"Loop {entry.step.id!r} ran {limit} iterations and its condition asks for another; "
                f"the MAX_LOOP_ITERATIONS setting allows {limit}"
            )
            self.frames.frame_failed(fkey, serialize_error(LoopLimitError(message)))
            return
        node["iteration"] += 1
        self.frames.start_child(
            fkey, frame["i"], entry.step, task["input"], iteration=node["iteration"], loop=True
        )
