"""The WebSocket half of bench/scale.py: many clients, each watching a run of its own.

daphne serves the project on PostgreSQL and Redis (``bench.streams.serve``, default
engine: the server runs the steps too). ``clients`` runs of ``bench-talking`` are
started and suspend at once; one WebSocket client per run connects, reads the replay
up to the suspension and reads on. Once every client is connected the runs are
resumed over REST, ``in_flight`` requests at a time, and each writes ``events``
events (``interval`` seconds apart; 0: in one commit).

Every client must receive every event of its run, in ``seq`` order with no gap or
duplicate: what each received is compared with the run's stored log at the end, and
a client that misses one fails the benchmark. Latency is an event's receipt by its
client minus its stored ``created_at`` (taken when its commit statement was built, just
before it ran: so it is the commit's own time plus the delivery), for every event
committed after its run was resumed; the replayed ones are not timed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
import requests

from bench.measure import percentile
from bench.streams import HOST, POSTGRES_ADMIN, serve, start_run, ws_message, ws_open

WORKFLOW = "bench-talking"
OPENING = 20  # handshakes and replays at a time: a thousand at once only queue in the server


@dataclass
class Watcher:
    """One client and what it received: ``seq`` to the wall-clock time of its arrival."""

    run_id: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: dict[int, float] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    types: dict[int, str] = field(default_factory=dict)

    async def afollow(self, until_finished: bool) -> None:
        """Read events until the run's suspension (the replay) or its end (``until_finished``)."""
        while (message := await ws_message(self.reader, self.writer)) is not None:
            self.received[int(message["seq"])] = time.time()
            self.order.append(int(message["seq"]))
            kind, payload = message["type"], message.get("payload") or {}
            self.types[int(message["seq"])] = kind
            if not until_finished and kind == "workflow-step-suspended":
                return
            if kind == "workflow-finish" and payload.get("workflow_status") != "suspended":
                return
        raise RuntimeError(f"The server closed the socket of run {self.run_id}")


@dataclass
class Opening:
    """The clients connecting: a few at a time, and an event set once all read their replay."""

    total: int
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(OPENING))
    ready: list[Watcher] = field(default_factory=list)
    all_ready: asyncio.Event = field(default_factory=asyncio.Event)


async def awatch(server: dict[str, Any], run_id: str, opening: Opening) -> Watcher:
    """Connect, read the replay up to the run's suspension, then read on until the run ends.

    Reading on at once matters: daphne pings every 20 s and drops a client that does not
    answer, and opening a thousand sockets takes longer than that.
    """
    async with opening.gate:
        path = f"/ws/workflows/runs/{run_id}/"
        watcher = Watcher(run_id, *await ws_open(server["port"], path, server["cookie"]))
        await watcher.afollow(until_finished=False)
    opening.ready.append(watcher)
    if len(opening.ready) == opening.total:
        opening.all_ready.set()
    await watcher.afollow(until_finished=True)
    return watcher


def resume(server: dict[str, Any], run_id: str, events: int, interval: float) -> None:
    response = requests.post(
        f"http://{HOST}:{server['port']}/workflows/api/runs/{run_id}/resume",
        json={"resume_data": {"events": events, "interval": interval}, "wait": False},
        headers={"Authorization": f"Bearer {server['token']}"},
        timeout=120,
    )
    response.raise_for_status()


async def astart_runs(server: dict[str, Any], count: int) -> list[str]:
    """``count`` runs of the workflow, each suspended (started with ``wait``), a few at a time."""
    gate = asyncio.Semaphore(4)

    async def one() -> str:
        async with gate:
            return await asyncio.to_thread(start_run, server, WORKFLOW, True)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def aresume_all(
    server: dict[str, Any], runs: list[str], in_flight: int, events: int, interval: float
) -> dict[str, float]:
    """Resume every run, ``in_flight`` requests at a time; when each was resumed (before its request).

    A closed loop: as fast as the server answers, without a queue of requests piling up in it.
    """
    gate, resumed = asyncio.Semaphore(in_flight), {}

    async def one(run_id: str) -> None:
        async with gate:
            resumed[run_id] = time.time()
            await asyncio.to_thread(resume, server, run_id, events, interval)

    await asyncio.gather(*(one(run_id) for run_id in runs))
    return resumed


def stored_events(database: str, runs: list[str]) -> dict[str, dict[int, float]]:
    """Each run's log as stored: ``seq`` to ``created_at`` (epoch seconds)."""
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + database
    query = "SELECT run_id, seq, created_at FROM workflows_app_workflowevent WHERE run_id = ANY(%s)"
    logs: dict[str, dict[int, float]] = {run_id: {} for run_id in runs}
    with psycopg.connect(url) as conn:
        for run_id, seq, created in conn.execute(query, [runs]).fetchall():
            logs[run_id][int(seq)] = created.timestamp()
    return logs


def compare(
    watchers: list[Watcher], logs: dict[str, dict[int, float]], resumed: dict[str, float]
) -> dict[str, Any]:
    """Events lost, duplicated or out of order, and the latency of the live ones (ms).

    A run whose client never connected has lost all its events.
    """
    watched = {watcher.run_id for watcher in watchers}
    lost = sum(len(log) for run_id, log in logs.items() if run_id not in watched)
    duplicated = disordered = 0
    by_type: dict[str, list[float]] = {}
    for watcher in watchers:
        log = logs[watcher.run_id]
        lost += len(set(log) - set(watcher.received))
        duplicated += len(watcher.order) - len(set(watcher.order))
        disordered += int(watcher.order != sorted(log))
        for seq, created in log.items():
            if created >= resumed.get(watcher.run_id, float("inf")) and seq in watcher.received:
                latency = 1000 * (watcher.received[seq] - created)
                by_type.setdefault(watcher.types[seq], []).append(latency)
    latencies = [latency for found in by_type.values() for latency in found]
    return {
        "p99_ms_by_type": {kind: percentile(found, 0.99) for kind, found in sorted(by_type.items())},
        "events_stored": sum(len(log) for log in logs.values()),
        "events_timed": len(latencies),
        "lost": lost,
        "duplicated": duplicated,
        "clients_out_of_order": disordered,
        "p50_ms": percentile(latencies, 0.50) if latencies else None,
        "p99_ms": percentile(latencies, 0.99) if latencies else None,
        "max_ms": max(latencies, default=None),
    }


async def ameasure(
    clients: int, events: int, interval: float, in_flight: int, database: str, timeout: float
) -> dict[str, Any]:
    from bench.measure import load_average
    from bench.run import ROOT

    with serve(ROOT, database) as server:
        began = time.monotonic()
        runs = await astart_runs(server, clients)
        opening = Opening(total=clients)
        following = [asyncio.ensure_future(awatch(server, run_id, opening)) for run_id in runs]
        ready = asyncio.ensure_future(opening.all_ready.wait())
        await asyncio.wait([ready, *following], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        connected = ready.done()
        if not connected:  # a client failed before every client was connected: nothing is resumed
            ready.cancel()
        setup, load = time.monotonic() - began, load_average()
        resumed = await aresume_all(server, runs, in_flight, events, interval) if connected else {}
        done, late = await asyncio.wait(following, timeout=timeout)
        for task in late:
            task.cancel()
        errors = [repr(task.exception()) for task in done if task.exception() is not None]
        for watcher in opening.ready:
            watcher.writer.close()
        result = compare(opening.ready, stored_events(server["database"], runs), resumed)
    return {
        "clients": clients,
        "events_per_run": events,
        "interval_s": interval,
        "resumes_in_flight": in_flight,
        "setup_s": setup,
        "live_s": time.monotonic() - began - setup,
        "clients_unfinished": len(late),
        "client_errors": errors[:5],
        "client_error_count": len(errors),
        "load_before": load,
        "load_after": load_average(),
        **result,
    }
