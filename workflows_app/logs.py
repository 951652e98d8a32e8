"""Log records that say which run and step they are about.

:class:`RunContextFilter` gives every record it sees ``run_id`` and ``step``
attributes (``-`` outside a step), from :mod:`workflows_app.core.log_context`,
so that a format can show them (``... run=%(run_id)s step=%(step)s ...``, as
the project's ``LOGGING`` does): a worker runs many
steps of many runs at once, and its lines are only useful when each one says
which. Put the filter on a handler (see docs/operations.md); it never drops a
record.
"""

from __future__ import annotations

import logging

from .core import log_context


class RunContextFilter(logging.Filter):
    """Adds ``run_id`` and ``step`` to each record, from the step running in its context."""

    def filter(self, record: logging.LogRecord) -> bool:
        running = log_context.running.get()
        if not hasattr(record, "run_id"):
            record.run_id = running[0] if running else "-"
        if not hasattr(record, "step"):
            record.step = running[1] if running else "-"
        return True
