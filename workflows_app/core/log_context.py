"""Which run and step the code running now works for, so that log records can say it.

Set by :func:`workflows_app.core._execution.run_task` around a step's user code, on
both engines; read by :class:`workflows_app.logs.RunContextFilter`. A context
variable, so that each of the steps a worker runs at once sees its own.
"""

from __future__ import annotations

from contextvars import ContextVar

# (run id, step path) of the task whose code runs in this context, or None outside any.
running: ContextVar[tuple[str, str] | None] = ContextVar("workflows_app_running", default=None)
