"""pydantic-ai is imported only when a pydantic-ai object is wrapped (issue 5)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from workflows_app import create_step, create_workflow

def triple(value: int) -> int:
    return value * 3

create_workflow("lazy-probe").then(create_step("a", execute=lambda ctx: 1)).tool(triple).commit()
print("pydantic_ai" in sys.modules)
"""


def test_the_core_and_plain_steps_work_without_importing_pydantic_ai() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env={})
    assert done.stdout.strip() == "False"
