"""Step exceptions this process still holds as objects, shared by the engines.

Stored errors are plain dicts; results read in the process that ran the step use
the original exception instead, so identity and attributes survive. Bounded:
only the most recent runs are kept.
"""

from __future__ import annotations

from collections import OrderedDict

_KEEP_FOR = 256


class LiveErrors:
    """Exceptions by run id, then by step path."""

    def __init__(self, keep_for: int = _KEEP_FOR) -> None:
        self._runs: OrderedDict[str, dict[str, BaseException]] = OrderedDict()
        self._keep_for = keep_for

    def keep(self, run_id: str, path: str, error: BaseException) -> None:
        self._runs.setdefault(run_id, {})[path] = error
        self._runs.move_to_end(run_id)
        while len(self._runs) > self._keep_for:
            self._runs.popitem(last=False)

    def of(self, run_id: str) -> dict[str, BaseException]:
        return self._runs.get(run_id, {})
