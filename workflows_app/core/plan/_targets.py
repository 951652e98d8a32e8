"""Which suspended tasks a resume call names.

Pure, like ``plan``: it reads the run state and returns task keys, or raises the
error the caller should see. A target is a step object or id, a path of ids or
objects (``[nested_wf, step]``), a dotted ``"wf.step"``, a nested workflow alone,
a label, or nothing (only when exactly one step is suspended); ``for_each_index``
narrows a foreach to one item.
"""

from __future__ import annotations

from typing import Any

from ..errors import (
    MultipleSuspendedStepsError,
    RunNotSuspendedError,
    StepNotSuspendedError,
)


def suspended_tasks(run_state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Suspended tasks in graph order (the order they were started in)."""
    found = [(key, task) for key, task in run_state.get("tasks", {}).items() if task["status"] == "suspended"]
    return sorted(found, key=lambda item: item[1]["order"])


def suspended_paths(run_state: dict[str, Any]) -> list[list[str]]:
    """The ``suspended`` field of a result: one id path per suspended step."""
    paths: list[list[str]] = []
    for _, task in suspended_tasks(run_state):
        path = task["path"].split(".")
        if path not in paths:
            paths.append(path)
    return paths


def target_path(step: Any) -> list[str]:
    """Normalise every accepted form of ``step=`` into a list of ids."""
    if isinstance(step, list | tuple):
        ids: list[str] = []
        for part in step:
            ids.extend(target_path(part))
        return ids
    if isinstance(step, str):
        return step.split(".")
    return [str(step.id)]


def find_resume_targets(
    run_state: dict[str, Any],
    *,
    step: Any = None,
    label: str | None = None,
    for_each_index: int | None = None,
) -> list[str]:
    """The keys of the tasks a resume should run again."""
    candidates = suspended_tasks(run_state)
    if run_state.get("status") != "suspended" or not candidates:
        raise RunNotSuspendedError()
    if label is not None:
        key = run_state.get("labels", {}).get(label)
        if key is None:
            raise StepNotSuspendedError(
                f'No suspended step has the resume label "{label}". '
                f"Available suspended steps: {_ids(candidates)}"
            )
        return [key]
    if step is not None:
        candidates = _matching(candidates, target_path(step))
    if for_each_index is not None:
        candidates = [(key, task) for key, task in candidates if task.get("fe") == for_each_index]
        if not candidates:
            raise StepNotSuspendedError(f"No suspended foreach item has index {for_each_index}")
    return _one_step(candidates)


def _matching(
    candidates: list[tuple[str, dict[str, Any]]], wanted: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    exact = [(k, t) for k, t in candidates if t["path"].split(".") == wanted]
    if exact:
        return exact
    inside = [(k, t) for k, t in candidates if t["path"].split(".")[: len(wanted)] == wanted]
    if inside:
        return inside
    tail = [(k, t) for k, t in candidates if t["path"].split(".")[-len(wanted) :] == wanted]
    if tail:
        return tail
    raise StepNotSuspendedError(
        f'This workflow step "{".".join(wanted)}" was not suspended. '
        f"Available suspended steps: {_ids(candidates)}"
    )


def _one_step(candidates: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """All items of one suspended step; more than one step is ambiguous."""
    paths = {task["path"] for _, task in candidates}
    if len(paths) > 1:
        raise MultipleSuspendedStepsError(
            f"Multiple suspended steps found: {sorted(paths)}. Please specify which step to resume."
        )
    return [key for key, _ in candidates]


def _ids(candidates: list[tuple[str, dict[str, Any]]]) -> str:
    paths = dict.fromkeys(task["path"] for _, task in candidates)  # foreach items share a path
    return "[" + ", ".join(paths) + "]"
