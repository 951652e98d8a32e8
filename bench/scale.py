"""Scale (issue 12, item 3): a foreach of 100,000 items, and 1,000 WebSocket clients.

    .venv/bin/python bench/scale.py                       # both, full size: about half an hour
    .venv/bin/python bench/scale.py --sizes 1000 10000 --clients 100 --no-write
    .venv/bin/python bench/scale.py --skip-sockets        # the foreach alone
    .venv/bin/python bench/scale.py --skip-foreach --clients 1000 --events 10

1. foreach (``bench/scale_foreach.py``): the evented engine on PostgreSQL + Redis with
   two ``manage.py workflows_worker`` processes, configured as ``bench/run.py`` configures
   its evented PostgreSQL run. Foreaches of ``--sizes`` no-op items (concurrency 50), then
   the first size again, in one process with the same workers: items/s of each and
   against the first size's, the workers' RSS over the first and the last quarter of
   each run, and the marginal cost of an item early and late in the run.
2. WebSockets (``bench/scale_sockets.py``): daphne on PostgreSQL + Redis serving
   ``--clients`` WebSocket clients, each watching a run of its own while the runs write
   ``--events`` events each: events lost (must be 0) and the p50/p99 from an event's
   commit to its client.

PostgreSQL and Redis on 127.0.0.1; the database is ``BENCH_DATABASE`` (default
``test_bench``, dropped and created), Redis ``BENCH_REDIS_URL`` (flushed). Prints the
tables and writes them into docs/benchmarks.md (the "Scale" section), unless
``--no-write``. A run that loses an event or fails exits non-zero and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.docs import raw_details, replace_block
from bench.machine import describe
from bench.run import (
    BENCH_DATABASES,
    POSTGRES_ADMIN,
    REDIS_URL,
    ROOT,
    config_args,
    flush_redis,
    fresh_database,
    run_module,
)

FOREACH_MARKERS = (
    "<!-- bench/scale.py foreach: begin (generated) -->",
    "<!-- bench/scale.py foreach: end -->",
)
SOCKET_MARKERS = (
    "<!-- bench/scale.py sockets: begin (generated) -->",
    "<!-- bench/scale.py sockets: end -->",
)


def measure_foreach(options: argparse.Namespace) -> dict[str, Any]:
    """The foreach sizes in one child process, with its two workers (``bench.run.config_args``)."""
    fresh_database(BENCH_DATABASES["ours"])
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        settings = argparse.Namespace(
            quick=False, timeout=options.timeout, workers=options.workers, worker_concurrency=0
        )
        _, env = config_args("postgres", "evented", settings, Path(scratch))
        args = ["--sizes", *map(str, options.sizes), "--workers", str(options.workers)]
        args += ["--timeout", str(options.timeout)]
        return run_module("bench.scale_foreach", args, env, Path(scratch) / "foreach.json")


def measure_sockets(options: argparse.Namespace) -> dict[str, Any]:
    from bench.scale_sockets import ameasure

    flush_redis()
    return asyncio.run(
        ameasure(
            options.clients,
            options.events,
            options.interval,
            options.in_flight,
            BENCH_DATABASES["ours"],
            options.timeout,
        )
    )


def foreach_table(result: dict[str, Any]) -> list[str]:
    runs = result["runs"]
    base = runs[0]["items_per_s"]
    lines = [
        "| items | began (UTC) | seconds | items/s | × first size | ms/item, 2nd tenth | ms/item, last tenth"
        " | transactions/item | workers' RSS MB, 1st quarter (median) | last quarter (median)"
        " | last quarter (peak) | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['items']:,} | {run['began_utc']} | {run['seconds']:,.1f} | {run['items_per_s']:,.1f}"
            f" | {run['items_per_s'] / base:.2f} | {run['early_ms_per_item']:.2f}"
            f" | {run['late_ms_per_item']:.2f} | {run['transactions_per_item']:.2f}"
            f" | {run['rss_first_quarter_mb']:,.1f}"
            f" | {run['rss_last_quarter_mb']:,.1f} | {run['rss_last_quarter_peak_mb']:,.1f}"
            f" | {run['load_before']:.1f} → {run['load_after']:.1f} |"
        )
    return lines


def socket_table(result: dict[str, Any]) -> list[str]:
    return [
        "| clients (one run each) | events stored | timed (live) | lost | duplicated"
        " | clients not in seq order | commit → client p50 ms | p99 ms | max ms | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {result['clients']:,} | {result['events_stored']:,} | {result['events_timed']:,}"
        f" | {result['lost']} | {result['duplicated']} | {result['clients_out_of_order']}"
        f" | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | {result['max_ms']:.1f}"
        f" | {result['load_before']:.1f} → {result['load_after']:.1f} |",
    ]


def sockets_failed(result: dict[str, Any]) -> bool:
    wrong = ("lost", "duplicated", "clients_out_of_order", "clients_unfinished")
    return any(result[key] for key in wrong) or bool(result["client_errors"]) or result["p99_ms"] is None


def block(markers: tuple[str, str], command: str, table: list[str], raw: dict[str, Any]) -> str:
    machine = describe(POSTGRES_ADMIN, REDIS_URL)
    lines = [
        markers[0],
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`; load average"
        f" {machine['load_average'][0]} when written, on {machine['cpus']} CPUs shared with other work.",
        "",
        *table,
        "",
        *raw_details(raw),
        "",
        markers[1],
    ]
    return "\n".join(lines)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="foreach items")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the foreach")
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients, one run each")
    parser.add_argument("--events", type=int, default=10, help="events each run writes once resumed")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between a run's events")
    parser.add_argument("--in-flight", type=int, default=4, help="resume requests at a time")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one measurement may take")
    parser.add_argument("--skip-foreach", action="store_true")
    parser.add_argument("--skip-sockets", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    return parser.parse_args()


def main() -> None:
    options = parse()
    command = " ".join([".venv/bin/python bench/scale.py", *sys.argv[1:]])
    blocks: list[tuple[tuple[str, str], str]] = []
    failed = False
    if not options.skip_foreach:
        began = time.monotonic()
        foreach = measure_foreach(options)
        if not foreach:
            sys.exit("The foreach benchmark failed (its error is above)")
        foreach["minutes"] = round((time.monotonic() - began) / 60, 1)
        table = foreach_table(foreach)
        print("\n".join(table) + "\n")
        blocks.append((FOREACH_MARKERS, block(FOREACH_MARKERS, command, table, foreach)))
    if not options.skip_sockets:
        sockets = measure_sockets(options)
        failed = sockets_failed(sockets)
        table = socket_table(sockets) if sockets["p99_ms"] is not None else []
        print("\n".join(table) + "\n")
        print(json.dumps(sockets, indent=1), file=sys.stderr)
        blocks.append((SOCKET_MARKERS, block(SOCKET_MARKERS, command, table, sockets)))
    if failed:
        sys.exit("WebSocket clients lost, repeated or reordered events, or did not finish: a failed run")
    if not options.no_write:
        for markers, text in blocks:
            replace_block(Path(options.output), *markers, text)
        print(f"Wrote {options.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
