"""Concurrency and rate limits: how many runs or step executions may be under way at once.

A limit is part of a definition (``create_workflow(concurrency=Limit(...))``,
``create_step(concurrency=Limit(...), rate=Rate(...))``) and is enforced where
work is claimed: the work it holds back is a task row like any other, carrying
its limit key and numbers (a :class:`Gate`), and a claim takes it only while the
key has room. So a limit holds across every worker of every process, and what
waits on it waits durably, in the queue.

- A workflow's limit counts its runs from their start to their end, per key: a
  suspended or sleeping run keeps its slot. A run over the limit is created
  ``pending`` with an ``admit`` task row; runs of one key are admitted first in,
  first out, and a run is started by the commit that completes its admission.
- A step's limit counts its executions under way (claimed and not yet
  committed), across all runs; its rate counts executions started within the
  last ``per`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .errors import LimitKeyError, WorkflowDefinitionError

ADMIT = "admit"  # the task row of a run waiting for a slot of its workflow's limit
MAX_KEY = 200  # characters of a key (the stored key adds a prefix)
# The statuses of a run that holds a slot of its workflow's limit: started, not ended.
HOLDING = ("running", "waiting", "suspended", "paused")


@dataclass(frozen=True)
class Limit:
    """At most ``n`` at once; on a workflow, per value of ``key(input)`` when ``key`` is given."""

    n: int
    key: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise WorkflowDefinitionError(f"Limit: n must be an int >= 1, got {self.n!r}")
        if self.key is not None and not callable(self.key):
            raise WorkflowDefinitionError(f"Limit: key must be a function of the input, got {self.key!r}")


@dataclass(frozen=True)
class Rate:
    """At most ``n`` executions started within any ``per`` seconds (a float or a ``timedelta``)."""

    n: int
    per: float | timedelta = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise WorkflowDefinitionError(f"Rate: n must be an int >= 1, got {self.n!r}")
        per = self.per.total_seconds() if isinstance(self.per, timedelta) else self.per
        if isinstance(per, bool) or not isinstance(per, int | float) or not per > 0:
            raise WorkflowDefinitionError(f"Rate: per must be seconds > 0 or a timedelta, got {self.per!r}")
        object.__setattr__(self, "per", float(per))

    @property
    def window_ms(self) -> int:
        return max(1, round(float(self.per) * 1000))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Gate:
    """What a task row carries for the claim to enforce: its key, ``limit_n`` at once and
    ``rate_n`` starts per ``rate_ms`` (0: no such bound)."""

    limit_key: str = ""
    limit_n: int = 0
    rate_n: int = 0
    rate_ms: int = 0


NO_GATE = Gate()


def check_step_limits(step_id: str, concurrency: Any, rate: Any) -> None:
    """A step's limits are checked when it is defined, not when a worker meets them."""
    if concurrency is not None and not isinstance(concurrency, Limit):
        raise WorkflowDefinitionError(f"Step {step_id!r}: concurrency takes a Limit(n), got {concurrency!r}")
    if isinstance(concurrency, Limit) and concurrency.key is not None:
        raise WorkflowDefinitionError(
            f"Step {step_id!r}: a step's Limit takes no key (it counts the step's executions "
            "across all runs); put a keyed Limit on the workflow"
        )
    if rate is not None and not isinstance(rate, Rate):
        raise WorkflowDefinitionError(f"Step {step_id!r}: rate takes a Rate(n, per=seconds), got {rate!r}")


def check_workflow_limit(workflow_id: str, concurrency: Any) -> None:
    if concurrency is not None and not isinstance(concurrency, Limit):
        raise WorkflowDefinitionError(
            f"Workflow {workflow_id!r}: concurrency takes a Limit(n, key=...), got {concurrency!r}"
        )


def step_gate(step: Any) -> Gate:
    """The gate of a step's task rows (none for a step without limits)."""
    concurrency: Limit | None = getattr(step, "concurrency", None)
    rate: Rate | None = getattr(step, "rate", None)
    if concurrency is None and rate is None:
        return NO_GATE
    return Gate(
        limit_key=f"step:{step.id}",
        limit_n=concurrency.n if concurrency is not None else 0,
        rate_n=rate.n if rate is not None else 0,
        rate_ms=rate.window_ms if rate is not None else 0,
    )


def run_gate(workflow_id: str, concurrency: Limit, input_data: Any) -> Gate:
    """The gate of a run's admission: its workflow's limit, for the key of its input."""
    key = ""
    if concurrency.key is not None:
        try:
            value = concurrency.key(input_data)
        except Exception as exc:
            raise LimitKeyError(
                f"The concurrency key of workflow {workflow_id!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise LimitKeyError(
                f"The concurrency key of workflow {workflow_id!r} must give a non-empty str or an int, "
                f"got {value!r}"
            )
        key = str(value)
        if len(key) > MAX_KEY:
            raise LimitKeyError(
                f"The concurrency key of workflow {workflow_id!r} is longer than {MAX_KEY} characters"
            )
    return Gate(limit_key=f"run:{workflow_id}:{key}", limit_n=concurrency.n)


def user_key(limit_key: str) -> str:
    """The key a user gave (``run:<workflow>:<key>``, ``step:<id>``), for events and the admin."""
    kind, _, rest = limit_key.partition(":")
    return rest.partition(":")[2] if kind == "run" else ""


__all__ = ["ADMIT", "NO_GATE", "Gate", "Limit", "Rate", "run_gate", "step_gate"]
