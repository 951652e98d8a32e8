"""The planner: ``plan(workflow, state, event) -> (state, actions)``, pure.

The modules of this package are private; this is its surface. Its invariants
are written at the top of :mod:`._planner`.
"""

from ._planner import Planner, plan
from ._rows import Rows, StepReader, StepTable
from ._state import (
    ACTIVE,
    BUSY,
    DEADLINE,
    OPEN,
    RUN_STATUSES,
    SETTLED,
    STATE_VERSION,
    TERMINAL,
    Coordinate,
    Frame,
    RunState,
    Task,
    Timer,
    apply_context_delta,
    child_key,
    context_delta,
    coordinate_of,
    item_index,
    item_key,
    new_state,
    step_path,
    task_component,
)
from ._targets import find_resume_targets, suspended_paths, suspended_tasks, target_path
from ._travel import find_target

__all__ = [
    "ACTIVE",
    "BUSY",
    "DEADLINE",
    "OPEN",
    "RUN_STATUSES",
    "SETTLED",
    "STATE_VERSION",
    "TERMINAL",
    "Coordinate",
    "Frame",
    "Planner",
    "Rows",
    "RunState",
    "StepReader",
    "StepTable",
    "Task",
    "Timer",
    "apply_context_delta",
    "child_key",
    "context_delta",
    "coordinate_of",
    "find_resume_targets",
    "find_target",
    "item_index",
    "item_key",
    "new_state",
    "plan",
    "step_path",
    "suspended_paths",
    "suspended_tasks",
    "target_path",
    "task_component",
]
