"""OpenTelemetry is an optional extra: no import cost, and no change of behaviour without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _probe(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env={}
    )
    return done.stdout.strip()


def test_importing_the_package_loads_no_opentelemetry() -> None:
    loaded = _probe(
        "import sys, workflows_app;"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))"
    )
    assert loaded == ""


def test_runs_work_and_store_no_trace_context_when_opentelemetry_is_not_installed() -> None:
    printed = _probe(
        "import sys; sys.modules['opentelemetry'] = None\n"  # every import of it fails, as uninstalled
        "import asyncio\n"
        "from workflows_app import create_step, create_workflow\n"
        "from workflows_app.core import runtime\n"
        "from workflows_app.testing import use_memory_storage\n"
        "use_memory_storage()\n"
        "async def double(ctx): return ctx.input_data * 2\n"
        "wf = create_workflow('no-otel').then(create_step('double', execute=double)).commit()\n"
        "async def main():\n"
        "    result = await wf.create_run().astart(21)\n"
        "    record = await runtime.get_storage().aget_run(result.run_id)\n"
        "    print(result.status, result.result, record.trace_context)\n"
        "asyncio.run(main())\n"
    )
    assert printed.splitlines()[-1] == "success 42 {}"
