"""``bench/run.py`` when a benchmark breaks: the error and a non-zero exit, never a table with "n/a".

The failing configuration is the in-memory one with a scenario timeout no
benchmark can meet, so the real path runs (a suite process that fails, its
error printed, the exit) in seconds and needs no database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.run import failed_benchmarks

ROOT = Path(__file__).resolve().parents[2]


def test_a_failing_benchmark_exits_non_zero_with_its_error_and_writes_no_table(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "WORKFLOWS_"))}
    env["BENCH_REDIS_URL"] = os.environ.get("REDIS_URL") or os.environ.get(
        "TEST_REDIS_URL", "redis://127.0.0.1:6379/15"
    )  # only asked for its version
    command = [sys.executable, "bench/run.py", "--quick", "--no-peers", "--backends", "memory"]
    command += ["--engines", "default", "--timeout", "0.001", "--output", str(output)]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "Benchmarks failed: memory/default" in done.stderr
    assert "bench.suite --engine default" in done.stderr and "failed (exit 1)" in done.stderr
    assert done.stderr.count("TimeoutError") >= 1  # the end of the suite's own traceback, shown
    assert done.stdout == ""  # no table at all, so no "n/a" row
    assert not output.exists()


def test_a_peer_that_failed_is_a_failed_benchmark_not_a_column_left_out() -> None:
    configs: dict[str, Any] = {"memory/default": {"sequential": {}}, "sqlite/evented": {}}
    rounds = [{"dbos-postgres": {"runs_s": [1.0]}, "langgraph": {}}, {"dbos-postgres": {"runs_s": [1.1]}}]
    assert failed_benchmarks(configs, rounds) == ["sqlite/evented", "langgraph"]
    assert failed_benchmarks({"memory/default": {"sequential": {}}}, []) == []
