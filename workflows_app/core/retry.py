"""Retry policies: how often a failed step runs again, and after how long.

A policy is part of a definition (on a workflow, or on a step, which then wins),
so every process computes the same thing from it. ``plan`` asks it for the delay
before the next attempt, and the delay becomes a durable timer row, never a sleep
in a worker. The delay is a pure function of the policy, the attempt and a seed
(the run and the task), so that ``plan`` stays free of randomness: jitter spreads
the retries of different runs apart, yet one run always gets the same delays.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TypeGuard

from .errors import NonRetryableError, WorkflowDefinitionError

Duration = float | int | timedelta
_LONGEST_WAIT = 10 * 365 * 86_400.0  # a wait with no max_delay stops growing here (and never overflows)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts, delay, backoff, a cap on the delay, jitter, and errors never retried.

    ``attempts`` counts retries after the first execution (0: none). The wait
    before retry ``n`` (from 1) is ``delay * backoff ** (n - 1)`` seconds, capped
    at ``max_delay``, then moved by up to ``jitter`` (a fraction) either way.
    ``non_retryable`` exception types fail the step at once, as
    :class:`~.errors.NonRetryableError` always does.
    """

    attempts: int = 0
    delay: Duration = 0.0
    backoff: float = 1.0
    max_delay: Duration | None = None
    jitter: float = 0.0
    non_retryable: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 0:
            raise WorkflowDefinitionError(f"RetryPolicy: attempts must be an int >= 0, got {self.attempts!r}")
        object.__setattr__(self, "delay", seconds(self.delay, "RetryPolicy: delay"))
        if self.max_delay is not None:
            object.__setattr__(self, "max_delay", seconds(self.max_delay, "RetryPolicy: max_delay"))
        if not _number(self.backoff) or not self.backoff >= 1.0:
            raise WorkflowDefinitionError(f"RetryPolicy: backoff must be >= 1, got {self.backoff!r}")
        if not _number(self.jitter) or not 0.0 <= self.jitter <= 1.0:
            raise WorkflowDefinitionError(f"RetryPolicy: jitter must be between 0 and 1, got {self.jitter!r}")
        types = tuple(self.non_retryable)
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
            raise WorkflowDefinitionError(
                f"RetryPolicy: non_retryable must be exception types, got {self.non_retryable!r}"
            )
        object.__setattr__(self, "non_retryable", types)

    def retryable(self, error: BaseException) -> bool:
        """Whether a step that raised ``error`` may run again (attempts left aside)."""
        return not isinstance(error, (NonRetryableError, *self.non_retryable))

    def delay_ms(self, retry: int, seed: str) -> int:
        """Milliseconds to wait before retry number ``retry`` (from 1); ``seed`` picks the jitter."""
        try:
            wait = seconds(self.delay, "delay") * self.backoff ** max(0, retry - 1)
        except OverflowError:
            wait = _LONGEST_WAIT
        cap = _LONGEST_WAIT if self.max_delay is None else seconds(self.max_delay, "max_delay")
        wait = min(wait, cap)
        if self.jitter:
            wait *= 1.0 + self.jitter * (2.0 * _unit(f"{seed}:{retry}") - 1.0)
        return max(0, round(wait * 1000))


def policy_of(own: int | RetryPolicy | None, base: RetryPolicy) -> RetryPolicy:
    """The policy a step runs under: its own ``retries``, else its workflow's ``base``.

    A step's ``retries`` may be an int, as in the spec: it then replaces only
    the number of attempts of the workflow's policy.
    """
    if isinstance(own, RetryPolicy):
        return own
    return base if own is None or own == base.attempts else replace(base, attempts=own)


def seconds(value: Duration | None, what: str) -> float:
    """A duration given as seconds or a ``timedelta``, checked to be >= 0."""
    number = value.total_seconds() if isinstance(value, timedelta) else value
    if not _number(number) or not number >= 0:
        raise WorkflowDefinitionError(f"{what} must be seconds >= 0 or a timedelta, got {value!r}")
    return float(number)


def timeout_seconds(value: Duration | None, what: str) -> float | None:
    """An optional timeout, checked to be > 0."""
    if value is None:
        return None
    number = seconds(value, what)
    if number <= 0:
        raise WorkflowDefinitionError(f"{what} must be > 0, got {value!r}")
    return number


def _number(value: object) -> TypeGuard[float]:
    """A real number (``bool`` is an ``int`` to Python, not a number of seconds here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unit(text: str) -> float:
    """A number in [0, 1) that depends on ``text`` only (the same in every process)."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
