"""Writing the results into docs/benchmarks.md, between markers, leaving the rest of the page alone.

Other benchmarks (and the prose around the tables) share the page: only the part
between :data:`BEGIN` and :data:`END` belongs to ``bench/run.py`` and is replaced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench/run.py results: begin (generated, do not edit) -->"
END = "<!-- bench/run.py results: end -->"
TITLE = "# Benchmarks\n\n"


def _machine_lines(machine: dict[str, Any]) -> list[str]:
    return [
        f"- Machine: {machine['cpus']} CPUs (`nproc`), {machine['cpu_model']} (/proc/cpuinfo), "
        f"{machine['memory_gib']} GiB of memory, Linux {machine['kernel']}; shared with other work: "
        f"load average {machine['load_average'][0]} at the start, {machine['load_average_after'][0]} "
        "at the end (1 minute).",
        f"- Python {machine['python']}, Django {machine['django']}, channels {machine['channels']}, "
        f"channels_redis {machine['channels_redis']}, PostgreSQL {machine['postgresql']}, "
        f"Redis {machine['redis']}; peers: dbos {machine['dbos']}, langgraph {machine['langgraph']}.",
        f"- The whole run took {machine['bench_minutes']} minutes.",
    ]


def section(
    machine: dict[str, Any], command: str, quick: bool, tables: dict[str, list[str]], raw: dict[str, Any]
) -> str:
    lines = [
        BEGIN,
        "",
        f"## Results ({'quick' if quick else 'full'} run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Reproduce: `{command}` (after `.venv/bin/pip install -e '.[bench]'` for the peers).",
        "",
        *_machine_lines(machine),
        "",
        "### Our engines",
        "",
        *tables["configurations"],
        "",
    ]
    if tables["peers"]:
        lines += ["### Peers (same machine, same run)", "", *tables["peers"], ""]
    lines += ["### Targets (issues 3 and 12)", "", *tables["targets"], "", *raw_details(raw), "", END]
    return "\n".join(lines)


def raw_details(raw: dict[str, Any]) -> list[str]:
    """The raw results as JSON, folded under the tables of a generated section."""
    return [
        "<details><summary>Raw results (JSON)</summary>",
        "",
        "```json",
        json.dumps(raw, indent=1, sort_keys=True),
        "```",
        "",
        "</details>",
    ]


def write_markdown(
    path: Path,
    machine: dict[str, Any],
    command: str,
    quick: bool,
    tables: dict[str, list[str]],
    raw: dict[str, Any],
) -> None:
    """Replace our section of the page (or append it), keeping everything else as it is."""
    replace_block(path, BEGIN, END, section(machine, command, quick, tables, raw))


def replace_block(path: Path, begin: str, end: str, generated: str) -> None:
    """Put ``generated`` (which starts with ``begin`` and ends with ``end``) in place of the page's
    block between those markers, or at the end of the page when it has none."""
    page = path.read_text() if path.exists() else TITLE
    if begin in page and end in page:
        before, rest = page.split(begin, 1)
        after = rest.split(end, 1)[1]
        page = before + generated + after
    else:
        page = page.rstrip("\n") + "\n\n" + generated + "\n"
    path.write_text(page)
