"""Frames walking their entries, and the interface every kind of node meets.

A frame walks its workflow's entries; the entry under its cursor is started by
the :class:`NodeHandler` of that entry's kind, which keeps its bookkeeping in
``frame["node"]`` (``node["kind"]`` names the handler again when a child
settles, a helper reports or a timer fires). A node completes its entry
(:meth:`Frames.entry_done`) or fails its frame; either moves the frame on. The
handlers live in :mod:`._flow`, :mod:`._sleep` and :mod:`._foreach`; the
planner builds the one :class:`NodeTable` from them, so this module never
imports them.

A child that is a nested workflow is a frame of its own (:meth:`Frames.start_child`);
when it ends, it settles into its parent's node as a step would.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import InputValidationError, ValidationError, serialize_error
from ..graph import is_workflow
from ..validation import validate
from ._core import RunCore, frame_row
from ._rows import INPUT, UNKNOWN, Ref, row_ref
from ._state import child_key, coordinate_of, item_key, step_path
from ._tasks import Tasks
from ._waits import Waits

if TYPE_CHECKING:
    from ..graph import Entry
    from ..graph import WorkflowDefinition as Workflow

ONE = "one"
"""The node kind of an entry that waits on one child (a step, a map, a nested workflow)."""


class NodeHandler(ABC):
    """What one kind of entry does: start, join its children, take its helpers' answers.

    ``entry`` is the graph entry type it starts, ``kinds`` the ``node["kind"]``
    values it writes into the run state (stored; they never change meaning).
    """

    entry: ClassVar[type]
    kinds: ClassVar[tuple[str, ...]]
    stages_state: ClassVar[bool] = False
    """Its children run side by side: their state changes wait for the join (graph order)."""
    keyed_output: ClassVar[bool] = False
    """Its output is ``{id: output}`` of its children (a parallel, a branch)."""

    def __init__(self, frames: Frames, waits: Waits) -> None:
        self.frames = frames
        self.waits = waits  # a sleep's timer; the other kinds arm none
        self.core = frames.core
        self.s = frames.core.s

    @abstractmethod
    def start(self, fkey: str, frame: dict[str, Any], entry: Entry, data: Any) -> None:
        """Start ``entry`` (under the frame's cursor) on its input ``data``."""

    def child_settled(
        self, fkey: str, frame: dict[str, Any], key: str, status: str, value: Any, ref: Ref | None
    ) -> None:
        """A node of one child completes with it: its output's row is the entry's output."""
        if status != "success" or ref is None:
            self.frames.frame_failed(fkey, value)
        else:
            self.frames.entry_done(fkey, ref)

    def helper_done(self, fkey: str, frame: dict[str, Any], task: dict[str, Any], value: Any) -> None:
        """The node's helper task answered ``value``; only kinds that schedule helpers take one."""
        raise TypeError(f"A {frame['node']['kind']!r} node runs no helper, yet {task['kind']!r} reported")

    def timer(self, fkey: str, frame: dict[str, Any]) -> None:  # noqa: B027 - a late firing does nothing
        """The node's timer fired. Only a sleep arms one; for other kinds it is a late firing."""

    def travel(
        self, fkey: str, frame: dict[str, Any], entry: Entry, target: str, history: dict[str, Any]
    ) -> None:
        """A time travel starts the entry at its child ``target``; most kinds simply start."""
        self.start(fkey, frame, entry, self.core.value(frame))

    def at_rest(self, fkey: str, node: dict[str, Any]) -> None:  # noqa: B027 - most kinds show nothing
        """The run settles as suspended with this node open; only a foreach shows it in its row."""

    def resumed(self, node: dict[str, Any], data: Any) -> None:  # noqa: B027 - most kinds show nothing
        """A task below this node resumes with ``data``; only a foreach shows it in its row."""


HandlerKind = type[NodeHandler]


@cache
def _lookup(kinds: tuple[HandlerKind, ...]) -> tuple[dict[type, HandlerKind], dict[str, HandlerKind]]:
    """The handler classes by entry type and by stored node kind, worked out once."""
    return {kind.entry: kind for kind in kinds}, {name: kind for kind in kinds for name in kind.kinds}


def _closed(kind: HandlerKind) -> NodeHandler:
    raise RuntimeError("This plan is over: its node table is closed")


class NodeTable:
    """The one lookup of handlers: by entry type when starting, by node kind afterwards.

    A handler is made on first use: a plan usually touches one kind of node, and
    every commit makes a planner.
    """

    def __init__(self, kinds: Iterable[HandlerKind], make: Callable[[HandlerKind], NodeHandler]) -> None:
        self.by_entry, self.by_kind = _lookup(tuple(kinds))
        self._make = make
        self._made: dict[HandlerKind, NodeHandler] = {}

    def for_entry(self, entry: Entry) -> NodeHandler:
        """The handler that starts ``entry``; graph entries are exact types, never subclassed."""
        return self._handler(self.by_entry[type(entry)])

    def for_node(self, node: dict[str, Any]) -> NodeHandler:
        """The handler of an open node, by the kind stored with it (it outlives this process)."""
        return self._handler(self.by_kind[node["kind"]])

    def close(self) -> None:
        """Let go of the frames: the handlers made and the maker refer back to them, a cycle
        that only the garbage collector would free (one per commit, which made it run often)."""
        self._made.clear()
        self._make = _closed

    def _handler(self, kind: HandlerKind) -> NodeHandler:
        made = self._made.get(kind)
        if made is None:
            made = self._made[kind] = self._make(kind)
        return made


class Frames:
    """The frames of the run: walking entries, nested workflows, and children reporting back."""

    def __init__(self, core: RunCore, tasks: Tasks, waits: Waits, kinds: Iterable[HandlerKind]) -> None:
        self.core = core
        self.tasks = tasks
        self.s = core.s
        self.table = NodeTable(kinds, lambda kind: kind(self, waits))

    def new_frame(
        self, workflow: Workflow, scope: str, data: Any, parent: str | None, **extra: Any
    ) -> dict[str, Any]:
        """A frame at the first entry of ``workflow`` (the root has ``parent=None``)."""
        frame = {
            "wf": workflow.id,
            "scope": scope,
            "input": data,
            "prev": list(INPUT),
            "i": 0,
            "node": None,
            "parent": parent,
            "iter": extra.pop("iteration", 0),
            "started_at": self.core.now,
            **extra,
        }
        if parent is None and self.core.rows.run_input is not UNKNOWN:
            del frame["input"]  # the run row has it
        return frame

    def advance(self, fkey: str) -> None:
        """Start entries of the frame until one has to wait for its children."""
        frame = self.s["frames"].get(fkey)
        while frame is not None and frame["node"] is None and self.s["status"] == "running":
            entries = self.core.workflows[frame["wf"]].entries
            if frame["i"] >= len(entries):
                self.frame_succeeded(fkey, self.core.value(frame))
                return
            if self.s["budget"] == 0:
                return  # perStep: the run pauses here
            self.start_entry(fkey, frame, entries[frame["i"]])
            frame = self.s["frames"].get(fkey)

    def start_entry(self, fkey: str, frame: dict[str, Any], entry: Entry) -> None:
        """Start the entry under the cursor with the handler of its kind."""
        data = self.core.value(frame)
        self.table.for_entry(entry).start(fkey, frame, entry, data)

    def entry_done(self, fkey: str, output: Ref) -> None:
        """The entry is done; ``output`` names where its output is (see :mod:`._rows`)."""
        frame = self.s["frames"][fkey]
        frame["i"] += 1
        frame["prev"] = output
        frame["node"] = None
        self.advance(fkey)

    def frame_succeeded(self, fkey: str, output: Any) -> None:
        """A frame walked all its entries: the run ends, or the nested workflow settles."""
        frame = self.s["frames"].pop(fkey)
        if frame["parent"] is None:
            if self.s["budget"] == 0:  # perStep: the one step ran; the caller decides what is next
                self.core.emit("workflow-paused", {})
                self.core.finish("paused")
            else:
                self.core.finish("success", result=output)
            return
        self.core.record_frame(frame, "success", output=output, ended_at=self.core.now)
        self.core.emit("workflow-step-result", self.frame_result(frame, "success", output=output))
        ref = row_ref(coordinate_of(frame_row(frame)))
        self.child_settled(frame["parent"], fkey, "success", output, ref)

    def frame_failed(self, fkey: str, error: Any) -> None:
        """A frame failed: the run fails, or the nested workflow settles as failed."""
        frame = self.s["frames"].pop(fkey)
        if frame["parent"] is None:
            self.s["frames"].clear()
            self.core.finish("failed", error=error)
            return
        self.core.record_frame(frame, "failed", error=error, ended_at=self.core.now)
        self.core.emit("workflow-step-result", self.frame_result(frame, "failed", error=error))
        self.child_settled(frame["parent"], fkey, "failed", error)

    def frame_result(self, frame: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
        """A nested workflow's result event: the shape of a step's, named by its scope."""
        return {
            "id": frame["scope"],
            "step_name": frame["wf"],
            "status": status,
            "ended_at": self.core.now,
            **fields,
        }

    # -- children -------------------------------------------------------------------
    def start_child(self, fkey: str, i: int, component: Any, data: Any, **coords: Any) -> str | None:
        """Start a step as a task, or a nested workflow as a frame; ``None`` when perStep stops it."""
        key = child_key(fkey, i, component.id, coords.get("fe"))
        if self.s["budget"] == 0:
            return None
        if not is_workflow(component):
            self.tasks.schedule_step(key, fkey, i, component, data, **coords)
            return key
        parent = self.s["frames"][fkey]
        frame = self.new_frame(
            component,
            step_path(parent["scope"], component.id),
            data,
            fkey,
            iteration=coords.get("iteration", parent["iter"]),
            fe=coords.get("fe"),
            item=item_key(parent.get("item"), coords.get("fe")),
            loop=coords.get("loop", False),
        )
        self.s["frames"][key] = frame
        self.core.record_frame(frame, "running")
        self.core.emit(
            "workflow-step-start",
            {
                "id": frame["scope"],
                "step_name": component.id,
                "payload": data,
                "started_at": self.core.now,
                "status": "running",
            },
        )
        try:
            if component.validate_inputs:
                frame["input"] = validate(component.input_schema, data, InputValidationError)
        except ValidationError as exc:
            self.frame_failed(key, serialize_error(exc))
            return key
        self.advance(key)
        return key

    def child_settled(self, fkey: str, key: str, status: str, value: Any, ref: Ref | None = None) -> None:
        """A child settled: ``value`` is its output (or error), ``ref`` the row that keeps its output."""
        frame = self.s["frames"].get(fkey)
        if frame is None or frame["node"] is None:
            return
        self.table.for_node(frame["node"]).child_settled(fkey, frame, key, status, value, ref)

    def helper_done(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        """A helper (conditions, a loop condition, a sleep function) reported to its node."""
        del self.s["tasks"][key]
        fkey = task["frame"]
        frame = self.s["frames"][fkey]
        if outcome["status"] != "success":
            self.frame_failed(fkey, outcome.get("error"))
            return
        self.table.for_node(frame["node"]).helper_done(fkey, frame, task, outcome.get("output"))

    def timer(self, fkey: str) -> None:
        """A timer of the frame's node fired (a sleep's)."""
        frame = self.s["frames"].get(fkey)
        if frame is None or frame["node"] is None:
            return
        self.table.for_node(frame["node"]).timer(fkey, frame)

    # -- suspending and resuming ------------------------------------------------------
    def show_suspended(self) -> None:
        """Show every nested workflow above a suspended step as suspended, with the path.

        Called when the run settles as suspended; each open node then shows itself
        at rest (a foreach waiting on suspended items).
        """
        for task in self.s["tasks"].values():
            if task["status"] != "suspended":
                continue
            fkey = task["frame"]
            while fkey:
                frame = self.s["frames"][fkey]
                inner = task["path"][len(frame["scope"]) + 1 :].split(".")
                frame["suspended_at"] = self.core.now
                frame["suspend_payload"] = {"__workflow_meta": {"path": inner}}
                self.core.record_frame(frame, "suspended")
                fkey = frame["parent"]
        for fkey, frame in self.s["frames"].items():
            if frame["node"] is not None:
                self.table.for_node(frame["node"]).at_rest(fkey, frame["node"])

    def show_resumed(self, fkey: str, data: Any) -> None:
        """Show the nested workflows, then the open nodes, above a resumed task as running again."""
        ancestor = fkey
        while ancestor:
            frame = self.s["frames"][ancestor]
            if "suspended_at" in frame:
                frame["resumed_at"] = self.core.now
                self.core.record_frame(frame, "running")
            ancestor = frame["parent"]
        node_of: str | None = fkey
        while node_of is not None:
            frame = self.s["frames"][node_of]
            if frame["node"] is not None:
                self.table.for_node(frame["node"]).resumed(frame["node"], data)
            node_of = frame["parent"]
