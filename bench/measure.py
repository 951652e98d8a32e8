"""Measuring tools shared by every benchmark: clocks, percentiles, memory samples.

No Django here: the peers' benchmarks use these too, in processes of their own.
"""

from __future__ import annotations

import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.workflows import SEQUENTIAL_STEPS, noop


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank, as latency reports do)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def per_step(seconds: Iterable[float], steps: int) -> dict[str, float]:
    """Microseconds per step and steps per second of the median of several timed runs."""
    middle = statistics.median(seconds)
    return {"us_per_step": middle * 1e6 / steps, "steps_per_s": steps / middle}


def plain_loop_us_per_step(repeats: int = 200) -> float:
    """The same 200 step functions called from a Python loop: the floor any engine adds to."""
    functions: list[Callable[[dict[str, Any]], dict[str, Any]]] = [noop] * SEQUENTIAL_STEPS
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        data = {"n": 0}
        for function in functions:
            data = function(data)
        best = min(best, time.perf_counter() - began)
    return best * 1e6 / SEQUENTIAL_STEPS


def interval_ratio(stamps: Sequence[float], early: int, late: int, window: int) -> dict[str, float]:
    """Cost of a loop's step ``early`` against step ``late``, from the wall-clock stamp of each step.

    ``stamps[i]`` is when iteration ``i + 1`` ran, so the cost of iteration k is
    ``stamps[k - 1] - stamps[k - 2]``. The cost of step k is the median over ``window``
    iterations from k (up to k for the last one), so that one slow moment of a shared
    machine does not decide the ratio.
    """
    gaps = [after - before for before, after in itertools.pairwise(stamps)]
    first = statistics.median(gaps[early - 2 : early - 2 + window])
    last = statistics.median(gaps[late - 1 - window : late - 1])
    return {"early_us": first * 1e6, "late_us": last * 1e6, "ratio": last / first}


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class MemorySampler:
    """Samples the RSS of some processes every few milliseconds, from a thread."""

    pids: list[int]
    interval: float = 0.01
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def total(self) -> float:
        return sum(rss_mb(pid) for pid in self.pids)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.total()))
            self._stop.wait(self.interval)

    def peak(self) -> float:
        return max(value for _, value in self.samples)

    def quarter_peaks(self) -> tuple[float, float]:
        """Peak RSS over the first and over the last quarter of the sampled time."""
        early, late = self._quarters()
        return max(early), max(late)

    def quarter_medians(self) -> tuple[float, float]:
        """Median RSS over the first and the last quarter: what a run holds, not its passing peaks."""
        early, late = self._quarters()
        return statistics.median(early), statistics.median(late)

    def _quarters(self) -> tuple[list[float], list[float]]:
        start, end = self.samples[0][0], self.samples[-1][0]
        span = max(end - start, 1e-9)
        early = [v for t, v in self.samples if t - start <= span / 4] or [self.samples[0][1]]
        late = [v for t, v in self.samples if end - t <= span / 4] or [self.samples[-1][1]]
        return early, late


def load_average() -> float:
    """The machine's one-minute load average: how busy the shared machine was."""
    return os.getloadavg()[0]
