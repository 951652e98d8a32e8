"""The run state ``plan`` reads and writes, its key grammar and the status vocabulary.

The run state is one JSON dict (stored on the run row, versioned by
``STATE_VERSION``). Its shape is :class:`RunState`; every layer that asks "is this
run over?" or "is this task still busy?" asks it with the sets defined here, so a
new status is added in one place.

Keys name places in the graph, never objects, so that they survive JSON:

- a frame key is ``""`` for the root workflow, else the key of the task slot
  that runs the nested workflow;
- a child key is ``<frame key>/<entry index>:<component id>``, plus
  ``#<n>`` for foreach item ``n`` (:func:`child_key`, :func:`item_index`);
- a helper (conditions, a loop condition) is ``<frame key>/<entry index>?``
  (:func:`helper_key`); a sleep's timer and its duration function use
  ``<frame key>/<entry index>~`` (:func:`sleep_key`);
- the timer of the workflow's ``timeout`` is :data:`DEADLINE` (no ``/``, so it
  names no place in the graph).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, cast

from ..graph import entry_components

if TYPE_CHECKING:
    from ..graph import WorkflowDefinition as Workflow

STATE_VERSION = 2  # 2: frames name the rows of their values (plan/_rows.py); 1 held the values

# -- the status vocabulary ---------------------------------------------------------
RUN_STATUSES = (
    "pending",
    "running",
    "waiting",
    "suspended",
    "paused",
    "success",
    "failed",
    "canceled",
    "tripwire",
)
BUSY = frozenset({"running", "waiting"})
"""Work is under way now: a run (or a task) with something running or a timer armed."""
ACTIVE = BUSY | {"pending"}
"""The run has not settled yet: something will move it without anybody acting."""
TERMINAL = frozenset({"success", "failed", "canceled", "tripwire"})
"""The run is over: only a restart or a time travel moves it again."""
SETTLED = TERMINAL | {"suspended", "paused"}
"""Nothing moves the run until somebody acts (resume, continue a paused run, restart)."""
OPEN = ACTIVE | {"suspended", "paused"}
"""The run may still move: it can be canceled."""
TASK_STATUSES = ("running", "waiting", "suspended")


# -- the typed state ----------------------------------------------------------------
class Task(TypedDict):
    """User code owed to the run: a step, or a helper deciding the flow (``kind``)."""

    kind: Literal["step", "conditions", "loop-condition", "sleep-duration"]
    frame: str
    entry: int
    input: Any
    status: Literal["running", "waiting", "suspended"]
    attempt: int
    order: int
    handout: NotRequired[int]
    step: NotRequired[str]
    path: NotRequired[str]
    fe: NotRequired[int | None]
    item: NotRequired[int | None]
    iter: NotRequired[int]
    loop: NotRequired[bool]
    run_count: NotRequired[int]
    started_at: NotRequired[int]
    resume: NotRequired[Any]
    label: NotRequired[str]
    wait: NotRequired[dict[str, Any]]  # a suspended step waiting on an event: its name and key
    deadline: NotRequired[dict[str, int]]  # a suspend's timeout: when (epoch ms), its timer number
    timed_out: NotRequired[bool]  # this run of the step comes from its deadline


class Frame(TypedDict):
    """One live execution of a workflow, walking its entries with cursor ``i``."""

    wf: str
    scope: str
    input: Any
    prev: Any
    i: int
    node: dict[str, Any] | None
    parent: str | None
    iter: int
    started_at: int


class Timer(TypedDict):
    at: int
    frame: str
    n: int


class Deadline(TypedDict):
    """The armed timer of the workflow's ``timeout``: due ``at``, under number ``n``."""

    at: int
    n: int


class RunState(TypedDict):
    v: int
    run_id: str
    status: str
    frames: dict[str, Frame]
    tasks: dict[str, Task]
    timers: dict[str, Timer]
    state: dict[str, Any]
    context: dict[str, Any]
    labels: dict[str, str]
    counts: dict[str, int]
    budget: int | None
    usage: dict[str, int]
    result: Any
    error: Any
    tripwire: Any
    order: int
    deadline: NotRequired[Deadline]
    received: NotRequired[list[int]]  # ids of the events the run took (each at most once)


def new_state(run_id: str, *, per_step: bool = False) -> dict[str, Any]:
    """The run state of a run that has not started (a :class:`RunState`)."""
    state: RunState = {
        "v": STATE_VERSION,
        "run_id": run_id,
        "status": "pending",
        "frames": {},
        "tasks": {},
        "timers": {},
        "state": {},
        "context": {},
        "labels": {},
        "counts": {},
        "budget": 1 if per_step else None,
        "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
        "result": None,
        "error": None,
        "tripwire": None,
        "order": 0,
    }
    return cast(dict[str, Any], state)


# -- the key grammar ----------------------------------------------------------------
ROOT = ""
DEADLINE = "~timeout"


def child_key(fkey: str, entry: int, component_id: str, index: int | None = None) -> str:
    """The key of a component at entry ``entry`` of frame ``fkey`` (foreach item ``index``)."""
    return f"{fkey}/{entry}:{component_id}" + (f"#{index}" if index is not None else "")


def helper_key(fkey: str, entry: int) -> str:
    """The key of the condition (branch or loop) of entry ``entry``."""
    return f"{fkey}/{entry}?"


def sleep_key(fkey: str, entry: int) -> str:
    """The key of a sleep entry's timer, and of the function that computes its duration."""
    return f"{fkey}/{entry}~"


def item_index(key: str) -> int | None:
    """The foreach item a child key names, if any."""
    base, _, index = key.rpartition("#")
    return int(index) if base and index.isdigit() else None


def item_of(key: str) -> int:
    """The foreach item of a child key of a foreach (which always names one)."""
    index = item_index(key)
    if index is None:
        raise ValueError(f"{key!r} names no foreach item")
    return index


def step_path(scope: str, step_id: str) -> str:
    """The dotted path of a step in the frame of ``scope`` (the step rows' ``path``)."""
    return f"{scope}.{step_id}" if scope else step_id


def graph_order(key: str, children: list[str]) -> tuple[int, str, int]:
    """Where a staged child comes in graph order: its place among the children, then its item index."""
    place = children.index(key) if key in children else len(children)
    index = item_index(key)
    return (place, key.rpartition("#")[0], index) if index is not None else (place, key, -1)


def task_component(workflows: dict[str, Workflow], state: dict[str, Any], task: dict[str, Any]) -> Any:
    """The step (or nested workflow) a task runs: the one lookup every layer uses."""
    frame = state["frames"][task["frame"]]
    entry = workflows[frame["wf"]].entries[task["entry"]]
    return next(c for c in entry_components(entry) if c.id == task["step"])


# -- step row coordinates -----------------------------------------------------------
Coordinate = tuple[str, int | None, int, int]


def coordinate_of(task: dict[str, Any]) -> Coordinate:
    """The key of a task's step row: its foreach item within the item it runs inside.

    Steps inside a nested workflow that a foreach runs per item share their paths
    across items; keying their rows by the enclosing item keeps concurrent items'
    rows apart.
    """
    index = item_key(task.get("item"), task.get("fe"))
    return (task["path"], index, task.get("iter", 0), task.get("attempt", 0))


def item_key(enclosing: int | None, index: int | None) -> int | None:
    """One number for foreach item ``index`` inside foreach item ``enclosing``.

    Either may be absent. When both are there (a foreach in a nested workflow
    that another foreach runs per item) they are paired (Cantor), which is one
    to one: all rows of one path have the same nesting, so keys never mix kinds.
    """
    if enclosing is None:
        return index
    if index is None:
        return enclosing
    return (enclosing + index) * (enclosing + index + 1) // 2 + index


# -- request context deltas -----------------------------------------------------------
def context_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """What a step changed in its request context: keys set and keys deleted."""
    changed = {key: value for key, value in after.items() if key not in before or before[key] != value}
    deleted = [key for key in before if key not in after]
    if not changed and not deleted:
        return None
    return {"set": copy.deepcopy(changed), "deleted": deleted}


def apply_context_delta(context: dict[str, Any], delta: dict[str, Any] | None) -> None:
    """Apply a step's :func:`context_delta` to the run's request context."""
    if not delta:
        return
    context.update(delta.get("set") or {})
    for key in delta.get("deleted") or ():
        context.pop(key, None)
