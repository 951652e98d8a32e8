"""Step rows as ``plan`` reads them back: what keeps the run state small.

Outputs live in step rows, never in the run state: the state names the row that
holds a value (a :data:`Ref`), and ``plan`` reads it back when it needs it (an
entry's input, a foreach's items, its outputs once it finishes). A commit sees
the rows stored before it under the rows it writes itself (:class:`Rows`), so a
value written and used in one commit is never read from the database.

A reference is a short JSON list:

- ``["input"]``: the input of the frame that holds it (the root frame's is the
  run's input, kept on the run row and not in the state);
- ``["value", v]``: ``v`` itself (a value the run was given, never a step's output);
- ``["row", coordinate]``: the output of the step row at ``coordinate``;
- ``["ids", {id: ref or None}]``: ``{id: value}`` (a parallel's or a branch's output);
- ``["items", path, iteration, enclosing, count, attempts, nested]``: the
  outputs of a finished foreach, in item order, from the rows of its items
  (``attempts`` names the items that succeeded at a retry, ``{index: attempt}``;
  ``nested``: the items are nested workflows, whose rows pair the item twice).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ..errors import WorkflowError
from ..storage import StepRecord
from ._state import Coordinate, item_key

Ref = list[Any]
INPUT: Ref = ["input"]
UNKNOWN: Any = object()


class StepReader(Protocol):
    """The reads ``plan`` makes of stored step rows, inside the commit that decides."""

    def read_steps(self, run_id: str, coordinates: Sequence[Coordinate]) -> list[StepRecord]:
        """The rows at these exact coordinates (those that exist)."""

    def read_items(self, run_id: str, path: str, iteration: int) -> list[StepRecord]:
        """Every row of foreach items of ``path`` at ``iteration``, all attempts."""

    def read_output_item(self, run_id: str, coordinate: Coordinate, index: int) -> Any:
        """Element ``index`` of the (list) output of the row at ``coordinate``, ``None`` if absent."""


class StepTable:
    """Step rows held in memory, by coordinate: a :class:`StepReader` with no database."""

    def __init__(self, rows: Iterable[StepRecord] = ()) -> None:
        self.rows: dict[Coordinate, StepRecord] = {row.coordinate: row for row in rows}

    def write(self, row: StepRecord) -> None:
        self.rows[row.coordinate] = row

    def read_steps(self, run_id: str, coordinates: Sequence[Coordinate]) -> list[StepRecord]:
        return [self.rows[c] for c in coordinates if c in self.rows]

    def read_items(self, run_id: str, path: str, iteration: int) -> list[StepRecord]:
        return [
            row
            for (p, index, it, _), row in self.rows.items()
            if p == path and it == iteration and index is not None
        ]

    def read_output_item(self, run_id: str, coordinate: Coordinate, index: int) -> Any:
        row = self.rows.get(coordinate)
        output = row.output if row is not None else None
        return output[index] if isinstance(output, list) and 0 <= index < len(output) else None


class Rows:
    """The run's step rows as one commit sees them: the stored ones under the ones it writes."""

    def __init__(self, reader: StepReader | None, run_id: str, run_input: Any = UNKNOWN) -> None:
        self.reader = reader
        self.run_id = run_id
        self.run_input = run_input  # the run row's input: the root frame's, which it then need not keep
        self.written = StepTable()
        self.read: dict[Coordinate, StepRecord | None] = {}  # stored rows read by this commit
        self.items: dict[tuple[str, int], list[StepRecord]] = {}

    def write(self, row: StepRecord) -> None:
        self.written.write(row)

    def row(self, coordinate: Coordinate) -> StepRecord | None:
        coordinate = _coordinate(coordinate)
        if coordinate in self.written.rows:
            return self.written.rows[coordinate]
        self.prefetch([coordinate])
        return self.read.get(coordinate)

    def prefetch(self, coordinates: Iterable[Coordinate]) -> None:
        """Read the stored rows of these coordinates that this commit has not, in one query."""
        wanted = [
            c for c in map(_coordinate, coordinates) if c not in self.written.rows and c not in self.read
        ]
        if not wanted or self.reader is None:
            return
        self.read.update(dict.fromkeys(wanted))
        self.read.update((row.coordinate, row) for row in self.reader.read_steps(self.run_id, wanted))

    def output(self, coordinate: Coordinate) -> Any:
        found = self.row(coordinate)
        if found is None:
            raise WorkflowError(f"No step row at {list(coordinate)!r} holds the value the run needs")
        return copy.deepcopy(found.output)

    def output_item(self, coordinate: Coordinate, index: int) -> Any:
        coordinate = _coordinate(coordinate)
        if coordinate in self.written.rows or self.reader is None:
            return copy.deepcopy(self.written.read_output_item(self.run_id, coordinate, index))
        return self.reader.read_output_item(self.run_id, coordinate, index)

    def item_outputs(self, path: str, iteration: int, wanted: dict[int, Coordinate]) -> dict[int, Any]:
        """The outputs of foreach items: ``{index: output}`` for each wanted ``{index: coordinate}``."""
        if (path, iteration) not in self.items and self.reader is not None:
            self.items[path, iteration] = self.reader.read_items(self.run_id, path, iteration)
        found = {row.coordinate: row for row in self.items.get((path, iteration), ())}
        found.update(self.written.rows)
        outputs = {}
        for index, coordinate in wanted.items():
            row = found.get(coordinate)
            outputs[index] = (
                copy.deepcopy(row.output) if row is not None and row.status == "success" else None
            )
        return outputs


def _coordinate(value: Sequence[Any]) -> Coordinate:
    path, index, iteration, attempt = value
    return (str(path), index, int(iteration), int(attempt))


def row_ref(coordinate: Sequence[Any]) -> Ref:
    return ["row", list(coordinate)]


def items_ref(
    path: str, iteration: int, enclosing: int | None, count: int, attempts: dict[str, int], *, nested: bool
) -> Ref:
    return ["items", path, iteration, enclosing, count, dict(attempts), nested]


def item_coordinate(ref: Ref, index: int) -> Coordinate:
    """The row of item ``index`` of an ``items`` reference (the key :func:`coordinate_of` gives it)."""
    _, path, iteration, enclosing, _, attempts, nested = ref
    key = item_key(enclosing, index)
    if nested:  # a nested workflow's frame carries its item key and its index (see frame_row)
        key = item_key(key, index)
    return (path, key, iteration, int(attempts.get(str(index), 0)))


def resolve(rows: Rows, ref: Ref, frame_input: Any) -> Any:
    """The value ``ref`` names (read from the rows it points at)."""
    kind = ref[0]
    if kind == "input":
        return copy.deepcopy(frame_input)
    if kind == "value":
        return copy.deepcopy(ref[1])
    if kind == "row":
        return rows.output(ref[1])
    if kind == "ids":
        rows.prefetch(part[1] for part in ref[1].values() if part is not None and part[0] == "row")
        return {
            sid: None if part is None else resolve(rows, part, frame_input) for sid, part in ref[1].items()
        }
    if kind == "items":
        wanted = {index: item_coordinate(ref, index) for index in range(ref[4])}
        outputs = rows.item_outputs(ref[1], ref[2], wanted)
        return [outputs[index] for index in range(ref[4])]
    raise WorkflowError(f"Unknown value reference {ref!r}")


def resolve_item(rows: Rows, ref: Ref, frame_input: Any, index: int) -> Any:
    """Element ``index`` of the list ``ref`` names, reading one element where the rows allow."""
    kind = ref[0]
    if kind == "row":
        return rows.output_item(ref[1], index)
    if kind == "items":
        found = rows.row(item_coordinate(ref, index))
        return copy.deepcopy(found.output) if found is not None and found.status == "success" else None
    value = frame_input if kind == "input" else ref[1] if kind == "value" else resolve(rows, ref, frame_input)
    found = value[index] if isinstance(value, list) and 0 <= index < len(value) else None
    return copy.deepcopy(found)


def upgrade(state: dict[str, Any]) -> dict[str, Any]:
    """A run state of version 1 (values held in frames) in today's terms, in place.

    A run in flight when its process was upgraded goes on: the values its
    frames held become ``value`` references, and its foreach reads the outputs
    of its items from their rows, as every foreach now does.
    """
    if state.get("v", 2) >= 2 or not state.get("frames"):
        state["v"] = max(int(state.get("v", 2)), 2)
        return state
    for frame in state["frames"].values():
        frame["prev"] = ["value", frame.get("prev")]
        node = frame.get("node") or {}
        if node.get("kind") == "loop" and "last" in node:
            node["last"] = ["value", node["last"]]
        elif node.get("kind") == "multi":
            for result in node.get("results", {}).values():
                if result["status"] == "success":
                    result["ref"] = ["value", result.pop("value", None)]
        elif node.get("kind") == "foreach":
            node.pop("outputs", None)
            node["row"].pop("input", None)
            node["suspended"] = bool(node["row"].pop("suspended", False))
            node.update(items=frame["prev"], count=len(frame["prev"][1] or []), attempts={})
    state["v"] = 2
    return state
