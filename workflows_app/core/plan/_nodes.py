"""The graph side of ``plan``: frames walking entries, and what each entry does.

Split from :mod:`plan` by concept; the methods run on one :class:`plan.Planner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InputValidationError, LoopLimitError, ValidationError, serialize_error
from ..graph import (
    BranchEntry,
    Entry,
    ForeachEntry,
    LoopEntry,
    ParallelEntry,
    SleepEntry,
    StepEntry,
    expect,
    is_workflow,
    sleep_value,
)
from ..validation import validate
from ._rows import INPUT, UNKNOWN, Ref, Rows, resolve, row_ref
from ._state import child_key, coordinate_of, helper_key, item_key, sleep_key, step_path

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow


class NodeMixin:
    """Frames, entries and the nodes that join their children."""

    s: dict[str, Any]
    now: int
    max_loop_iterations: int | None
    workflows: dict[str, Workflow]
    actions: list[dict[str, Any]]
    rows: Rows

    if TYPE_CHECKING:

        def emit(self, event_type: str, payload: dict[str, Any]) -> None: ...
        def finish(self, status: str, **fields: Any) -> None: ...
        def schedule_step(
            self, key: str, fkey: str, entry: int, step: Any, payload: Any, **coords: Any
        ) -> None: ...
        def schedule_helper(
            self, key: str, fkey: str, entry: int, kind: str, payload: Any, **extra: Any
        ) -> None: ...
        def record(self, task: dict[str, Any], status: str, **fields: Any) -> None: ...
        def record_frame(self, frame: dict[str, Any], status: str, **fields: Any) -> None: ...
        def frame_row(self, frame: dict[str, Any]) -> dict[str, Any]: ...
        def rewrite(self, row: dict[str, Any], status: str, **fields: Any) -> None: ...
        def arm_timer(self, key: str, fkey: str, due: int) -> None: ...
        def next_order(self) -> int: ...
        def flush_state(self, node: dict[str, Any], keys: list[str] | None = None) -> None: ...
        def start_foreach(
            self, fkey: str, frame: dict[str, Any], entry: ForeachEntry, items: Any
        ) -> None: ...
        def foreach_item_settled(
            self, fkey: str, frame: dict[str, Any], key: str, status: str, value: Any, ref: Ref | None
        ) -> None: ...

    # -- frames -----------------------------------------------------------------
    def new_frame(
        self, workflow: Workflow, scope: str, data: Any, parent: str | None, **extra: Any
    ) -> dict[str, Any]:
        frame = {
            "wf": workflow.id,
            "scope": scope,
            "input": data,
            "prev": list(INPUT),
            "i": 0,
            "node": None,
            "parent": parent,
            "iter": extra.pop("iteration", 0),
            "started_at": self.now,
            **extra,
        }
        if parent is None and self.rows.run_input is not UNKNOWN:
            del frame["input"]  # the run row has it
        return frame

    def value(self, frame: dict[str, Any], ref: Ref | None = None) -> Any:
        """The value ``ref`` (by default the frame's ``prev``) names, read back from the rows."""
        return resolve(self.rows, frame["prev"] if ref is None else ref, self.frame_input(frame))

    def frame_input(self, frame: dict[str, Any]) -> Any:
        """A frame's input; the root frame's is the run's, on the run row."""
        return frame.get("input", self.rows.run_input)

    def advance(self, fkey: str) -> None:
        """Start entries of the frame until one has to wait for its children."""
        frame = self.s["frames"].get(fkey)
        while frame is not None and frame["node"] is None and self.s["status"] == "running":
            entries = self.workflows[frame["wf"]].entries
            if frame["i"] >= len(entries):
                self.frame_succeeded(fkey, self.value(frame))
                return
            if self.s["budget"] == 0:
                return  # perStep: the run pauses here
            self.start_entry(fkey, frame, entries[frame["i"]])
            frame = self.s["frames"].get(fkey)

    def entry_done(self, fkey: str, output: Ref) -> None:
        """The entry is done; ``output`` names where its output is (see :mod:`._rows`)."""
        frame = self.s["frames"][fkey]
        frame["i"] += 1
        frame["prev"] = output
        frame["node"] = None
        self.advance(fkey)

    def frame_succeeded(self, fkey: str, output: Any) -> None:
        frame = self.s["frames"].pop(fkey)
        if frame["parent"] is None:
            if self.s["budget"] == 0:  # perStep: the one step ran; the caller decides what is next
                self.emit("workflow-paused", {})
                self.finish("paused")
            else:
                self.finish("success", result=output)
            return
        self.record_frame(frame, "success", output=output, ended_at=self.now)
        self.emit("workflow-step-result", self.frame_result(frame, "success", output=output))
        ref = row_ref(coordinate_of(self.frame_row(frame)))
        self.child_settled(frame["parent"], fkey, "success", output, ref)

    def frame_failed(self, fkey: str, error: Any) -> None:
        frame = self.s["frames"].pop(fkey)
        if frame["parent"] is None:
            self.s["frames"].clear()
            self.finish("failed", error=error)
            return
        self.record_frame(frame, "failed", error=error, ended_at=self.now)
        self.emit("workflow-step-result", self.frame_result(frame, "failed", error=error))
        self.child_settled(frame["parent"], fkey, "failed", error)

    def frame_result(self, frame: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": frame["scope"],
            "step_name": frame["wf"],
            "status": status,
            "ended_at": self.now,
            **fields,
        }

    # -- starting entries ---------------------------------------------------------
    def start_entry(self, fkey: str, frame: dict[str, Any], entry: Entry) -> None:
        i, data = frame["i"], self.value(frame)
        if isinstance(entry, StepEntry):
            frame["node"] = {"kind": "one"}
            self.start_child(fkey, i, entry.step, data)
        elif isinstance(entry, ParallelEntry):
            self.start_multi(fkey, frame, list(entry.steps), data)
        elif isinstance(entry, BranchEntry):
            frame["node"] = {"kind": "branch"}
            self.schedule_helper(helper_key(fkey, i), fkey, i, "conditions", data)
        elif isinstance(entry, LoopEntry):
            frame["node"] = {"kind": "loop", "iteration": 1}
            self.start_child(fkey, i, entry.step, data, iteration=1, loop=True)
        elif isinstance(entry, ForeachEntry):
            self.start_foreach(fkey, frame, entry, data)
        elif isinstance(entry, SleepEntry):
            self.start_sleep(fkey, frame, entry, data)

    def start_child(self, fkey: str, i: int, component: Any, data: Any, **coords: Any) -> str | None:
        key = child_key(fkey, i, component.id, coords.get("fe"))
        if self.s["budget"] == 0:
            return None
        if not is_workflow(component):
            self.schedule_step(key, fkey, i, component, data, **coords)
            return key
        parent = self.s["frames"][fkey]
        scope = step_path(parent["scope"], component.id)
        iteration = coords.get("iteration", parent["iter"])
        frame = self.new_frame(
            component,
            scope,
            data,
            fkey,
            iteration=iteration,
            fe=coords.get("fe"),
            item=item_key(parent.get("item"), coords.get("fe")),
            loop=coords.get("loop", False),
        )
        self.s["frames"][key] = frame
        self.record_frame(frame, "running")
        self.emit(
            "workflow-step-start",
            {
                "id": scope,
                "step_name": component.id,
                "payload": data,
                "started_at": self.now,
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

    def start_multi(self, fkey: str, frame: dict[str, Any], components: list[Any], data: Any) -> None:
        i = frame["i"]
        keys = [child_key(fkey, i, c.id) for c in components]
        frame["node"] = {"kind": "multi", "children": keys, "ids": [c.id for c in components], "results": {}}
        if not components:
            self.entry_done(fkey, ["ids", {}])
            return
        for component in components:
            self.start_child(fkey, i, component, data)

    # -- children settling --------------------------------------------------------
    def child_settled(self, fkey: str, key: str, status: str, value: Any, ref: Ref | None = None) -> None:
        """A child settled: ``value`` is its output (or error), ``ref`` the row that keeps its output."""
        frame = self.s["frames"].get(fkey)
        if frame is None or frame["node"] is None:
            return
        node = frame["node"]
        if node["kind"] == "multi":
            node["results"][key] = (
                {"status": status, "ref": ref}
                if status == "success"
                else {
                    "status": status,
                    "value": value,
                }
            )
            self.join_multi(fkey, frame)
        elif node["kind"] == "foreach":
            self.foreach_item_settled(fkey, frame, key, status, value, ref)
        elif status != "success" or ref is None:
            self.frame_failed(fkey, value)
        elif node["kind"] == "loop":
            iteration = node["iteration"]
            node["last"] = ref
            self.schedule_helper(
                helper_key(fkey, frame["i"]), fkey, frame["i"], "loop-condition", value, iteration=iteration
            )
        else:
            self.entry_done(fkey, ref)

    def join_multi(self, fkey: str, frame: dict[str, Any]) -> None:
        node = frame["node"]
        if len(node["results"]) < len(node["children"]):
            return
        self.flush_state(node, [key for key in node["children"] if key in node.get("deltas", {})])
        entry = self.workflows[frame["wf"]].entries[frame["i"]]
        allow_failure = isinstance(entry, ParallelEntry) and entry.allow_failure
        output: dict[str, Any] = {}
        for key, step_id in zip(node["children"], node["ids"], strict=True):
            result = node["results"][key]
            if result["status"] != "success" and not allow_failure:
                self.frame_failed(fkey, result["value"])
                return
            output[step_id] = result["ref"] if result["status"] == "success" else None
        self.entry_done(fkey, ["ids", output])

    # -- helpers: conditions, loop conditions, sleep durations ----------------------
    def on_helper_done(self, key: str, task: dict[str, Any], outcome: dict[str, Any]) -> None:
        del self.s["tasks"][key]
        fkey = task["frame"]
        frame = self.s["frames"][fkey]
        if outcome["status"] != "success":
            self.frame_failed(fkey, outcome.get("error"))
            return
        value = outcome.get("output")
        if task["kind"] == "conditions":
            branch = expect(self.workflows[frame["wf"]].entries[frame["i"]], BranchEntry)
            chosen = [
                component for (_, component), ok in zip(branch.branches, value or [], strict=True) if ok
            ]
            self.start_multi(fkey, frame, chosen, task["input"])
        elif task["kind"] == "loop-condition":
            self.loop_condition_done(fkey, frame, bool(value), task["input"])
        elif task["kind"] == "sleep-duration":
            sleep = expect(self.workflows[frame["wf"]].entries[frame["i"]], SleepEntry)
            self.arm_sleep(fkey, frame, sleep_due(value, self.now, until=sleep.until is not None))

    def loop_condition_done(self, fkey: str, frame: dict[str, Any], value: bool, last: Any) -> None:
        """The loop's condition answered ``value`` on the last iteration's output ``last``."""
        entry = expect(self.workflows[frame["wf"]].entries[frame["i"]], LoopEntry)
        node = frame["node"]
        again = not value if entry.until else value
        if not again:
            self.entry_done(fkey, node["last"])
            return
        limit = self.max_loop_iterations
        if limit is not None and node["iteration"] >= limit:
            message = (
                f"Loop {entry.step.id!r} ran {limit} iterations and its condition asks for another; "
                f"the MAX_LOOP_ITERATIONS setting allows {limit}"
            )
            self.frame_failed(fkey, serialize_error(LoopLimitError(message)))
            return
        node["iteration"] += 1
        self.start_child(fkey, frame["i"], entry.step, last, iteration=node["iteration"], loop=True)

    # -- sleep --------------------------------------------------------------------
    def start_sleep(self, fkey: str, frame: dict[str, Any], entry: SleepEntry, data: Any) -> None:
        path = step_path(frame["scope"], entry.id)
        row = {"path": path, "started_at": self.now, "iter": frame["iter"]}
        frame["node"] = {"kind": "sleep", "row": row}
        self.record({**row, "input": data}, "waiting")
        self.emit(
            "workflow-step-waiting",
            {
                "id": path,
                "step_name": entry.id,
                "payload": data,
                "started_at": self.now,
                "status": "waiting",
            },
        )
        spec = entry.until if entry.until is not None else entry.duration
        if callable(spec):
            self.schedule_helper(sleep_key(fkey, frame["i"]), fkey, frame["i"], "sleep-duration", data)
        else:
            self.arm_sleep(fkey, frame, sleep_due(spec, self.now, until=entry.until is not None))

    def arm_sleep(self, fkey: str, frame: dict[str, Any], due: int) -> None:
        self.arm_timer(sleep_key(fkey, frame["i"]), fkey, due)

    def on_sleep_timer(self, key: str, fkey: str) -> None:
        frame = self.s["frames"].get(fkey)
        if frame is None or frame["node"] is None or frame["node"]["kind"] != "sleep":
            return
        row = frame["node"]["row"]
        output = self.value(frame)
        self.rewrite(row, "success", output=output, ended_at=self.now)
        self.emit(
            "workflow-step-result",
            {"id": row["path"], "status": "success", "output": output, "ended_at": self.now},
        )
        self.entry_done(fkey, frame["prev"])


def sleep_due(spec: Any, now: int, *, until: bool) -> int:
    """When a sleep entry ends, in epoch ms: ``now`` plus seconds, or a given instant."""
    value = sleep_value(spec)
    return int(value) if until else now + int(float(value or 0) * 1000)
