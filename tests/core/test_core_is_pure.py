"""The core never imports Django or Channels (STYLE.md: a small pure core)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_core_loads_neither_django_nor_channels() -> None:
    probe = (
        "import sys, workflows_app.core, workflows_app.core.plan, workflows_app.core.run;"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'channels'));"
        "print(','.join(loaded))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={})
    assert done.stdout.strip() == ""
