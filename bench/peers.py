"""The peers' equivalents of the 200-step benchmark, each in a process of its own.

``python -m bench.peers dbos --postgres URL --runs 5 --out result.json`` runs DBOS
Transact (each step checkpointed in its PostgreSQL system database);
``python -m bench.peers langgraph --sqlite PATH --postgres URL ...`` runs a LangGraph
graph of 200 nodes without a checkpointer, then with the SQLite and the PostgreSQL
checkpointers. Every step or node calls :func:`bench.workflows.noop`, as ours do.
The SQLite checkpointer gets the pragmas our project uses (WAL, synchronous=NORMAL),
so that the comparison is of the engines and not of the journal mode.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.measure import per_step
from bench.workflows import SEQUENTIAL_STEPS, noop


def timed_runs(run_once: Callable[[], dict[str, Any]], runs: int) -> dict[str, Any]:
    """Median cost per step over ``runs`` runs, after one warm-up run."""
    if run_once() != {"n": SEQUENTIAL_STEPS}:
        raise RuntimeError("The peer's workflow did not run all of its steps")
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        run_once()
        seconds.append(time.perf_counter() - began)
    return {**per_step(seconds, SEQUENTIAL_STEPS), "runs_s": seconds}


def bench_dbos(postgres: str, runs: int) -> dict[str, Any]:
    from dbos import DBOS

    DBOS(config={"name": "bench", "system_database_url": postgres, "log_level": "WARNING"})

    @DBOS.step()
    def step(data: dict[str, Any]) -> dict[str, Any]:
        return noop(data)

    @DBOS.workflow()
    def sequential() -> dict[str, Any]:
        data = {"n": 0}
        for _ in range(SEQUENTIAL_STEPS):
            data = step(data)
        return data

    DBOS.launch()
    try:
        return {"dbos-postgres": timed_runs(sequential, runs)}
    finally:
        DBOS.destroy()


def bench_langgraph(sqlite_path: str, postgres: str, runs: int) -> dict[str, Any]:
    from typing import TypedDict

    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph
    from psycopg.rows import dict_row

    class State(TypedDict):
        n: int

    graph = StateGraph(State)
    previous = START
    for index in range(SEQUENTIAL_STEPS):
        graph.add_node(f"s{index}", noop)  # type: ignore[call-overload]
        graph.add_edge(previous, f"s{index}")
        previous = f"s{index}"
    graph.add_edge(previous, END)

    def runner(checkpointer: Any) -> Callable[[], dict[str, Any]]:
        app = graph.compile(checkpointer=checkpointer)

        def run_once() -> dict[str, Any]:
            config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}, "recursion_limit": 1000}
            return dict(app.invoke({"n": 0}, config))

        return run_once

    results = {"langgraph-none": timed_runs(runner(None), runs)}
    connection = sqlite3.connect(sqlite_path, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    results["langgraph-sqlite"] = timed_runs(runner(SqliteSaver(connection)), runs)
    with psycopg.connect(postgres, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        saver = PostgresSaver(conn)
        saver.setup()
        results["langgraph-postgres"] = timed_runs(runner(saver), runs)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("peer", choices=["dbos", "langgraph"])
    parser.add_argument("--postgres", required=True, help="a PostgreSQL database of the peer's own")
    parser.add_argument("--sqlite", help="a scratch SQLite file (langgraph)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.peer == "dbos":
        results = bench_dbos(args.postgres, args.runs)
    else:
        results = bench_langgraph(args.sqlite, args.postgres, args.runs)
    with open(args.out, "w") as out:
        json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
