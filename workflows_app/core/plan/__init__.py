"""The planner: ``plan(workflow, state, event) -> (state, actions)``, pure.

The modules of this package are private; this is its surface. Its invariants
are written at the top of :mod:`._planner`.
"""

from ._planner import STATE_VERSION, Planner, new_state, plan
from ._targets import find_resume_targets, suspended_paths, suspended_tasks, target_path
from ._travel import find_target

__all__ = [
    "STATE_VERSION",
    "Planner",
    "find_resume_targets",
    "find_target",
    "new_state",
    "plan",
    "suspended_paths",
    "suspended_tasks",
    "target_path",
]
