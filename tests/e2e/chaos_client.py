"""A client process of the chaos test: starts and resumes runs as a web server would.

Reads commands from stdin, one a line, and carries out each as its own asyncio
task, so that a slow resume (it waits until the run settles) holds up nothing:

    start <run_id> <n>      ``run.aenqueue({"n": n})``
    resume <run_id> <who>   ``run.aresume({"by": who})``

and appends what became of each to the JSON-lines file given as argument:
``{"op", "run", "ok", "error"}``. It runs no step itself (evented engine, no
inline worker), so killing workers never kills it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import django


async def main(out: Path) -> None:
    from workflows_app.core import runtime

    workflow = runtime.get_workflow("chaos")
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def carry_out(op: str, run_id: str, argument: str) -> None:
        run = workflow.create_run(run_id=run_id, engine="evented")
        error = ""
        try:
            if op == "start":
                await run.aenqueue({"n": int(argument)})
            else:
                await run.aresume({"by": argument})
        except Exception as exc:  # reported to the test, which judges it
            error = f"{type(exc).__name__}: {exc}"
        with out.open("a") as log:
            log.write(json.dumps({"op": op, "run": run_id, "ok": not error, "error": error}) + "\n")

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        op, run_id, argument = line.split()
        task = asyncio.ensure_future(carry_out(op, run_id, argument))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)


if __name__ == "__main__":
    django.setup()
    asyncio.run(main(Path(sys.argv[1])))
