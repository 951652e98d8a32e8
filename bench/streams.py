"""Benchmarks of the streams (issue 13): the runs feed under load, and what idle streams cost.

    .venv/bin/python bench/streams.py [--before REF] [--feed 300] [--starts 100] [--idle 400]

Each measurement runs the project's ASGI app under daphne on PostgreSQL and
Redis (default engine), once on the source tree of ``--before`` (a git ref,
exported with ``git archive``; default: where this branch left main) and once
on this working tree, in the same session:

1. Runs feed: ``--feed`` WebSocket clients on ``/ws/workflows/runs/`` (a staff
   user who sees every run), then ``--starts`` runs started one after another
   over REST without ``wait``: the seconds from the first start until every
   client has seen every run succeed.
2. Idle WebSockets: ``--idle`` sockets on the event streams of 10 suspended
   runs, replay done; the daphne process's CPU over ``--idle-seconds`` (20), and the transactions
   PostgreSQL counted for the database meanwhile.
3. Idle Server-Sent Events: the same with ``--idle-sse`` SSE streams (150). The
   ``--before`` tree gets at most 60: there each open stream held a request
   thread and its database connection, and PostgreSQL allows 100.

Prints a Markdown table for docs/benchmarks.md. The clients are plain asyncio
(a WebSocket handshake and unmasked server frames are all they need).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
HOST = "127.0.0.1"
# Before streams gave their connection back, each open SSE stream held one: stay below PostgreSQL's 100.
BEFORE_SSE_STREAMS = 60


# -- the server -----------------------------------------------------------------------
def export_tree(ref: str, into: Path) -> Path:
    """The source tree of ``ref``, with this tree's bench workflows copied in."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    tree = into / "tree"
    tree.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    shutil.copy(ROOT / "bench" / "stream_workflows.py", tree / "bench" / "stream_workflows.py")
    return tree


def _env(database: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WORKFLOWS_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        WORKFLOWS_MODULES="bench.stream_workflows",
        DATABASE_URL=f"postgres://postgres@{HOST}:5432/{database}",
        REDIS_URL=REDIS_URL,
        ALLOWED_HOSTS=f"{HOST},localhost",
        DEBUG="0",
        SECURE_SSL_REDIRECT="0",  # plain HTTP on the loopback: no TLS proxy in front
        SECRET_KEY="bench-" + uuid.uuid4().hex,
        LOG_LEVEL="ERROR",
    )
    return env


_SETUP = """
import django; django.setup()
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from workflows_app.models import ApiToken
user = User.objects.create_superuser("bench", "b@example.com", "pw")
s = SessionStore(); s["_auth_user_id"] = str(user.pk)
s["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
s["_auth_user_hash"] = user.get_session_auth_hash(); s.create()
print(settings.SESSION_COOKIE_NAME + "=" + s.session_key, ApiToken.issue(user)[1])
"""


@contextmanager
def serve(tree: Path, database: str | None = None) -> Iterator[dict[str, Any]]:
    """daphne on a scratch database, made afresh (``database``, or a new name).

    Yields the port, a session cookie, a bearer token, the pid and the database.
    """
    database = database or f"wf_bench_streams_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    env = _env(database)
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=tree, env=env, check=True)
        setup = [sys.executable, "-c", _SETUP]
        cookie, token = subprocess.run(
            setup, cwd=tree, env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), "project.asgi:application"],
            cwd=tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(port)
        yield {"port": port, "cookie": cookie, "token": token, "pid": server.pid, "database": database}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while socket.socket().connect_ex((HOST, port)) != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("daphne did not start")
        time.sleep(0.1)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _transactions(database: str) -> int:
    query = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        row = admin.execute(query, [database]).fetchone()
    return int(row[0]) if row else 0


# -- clients --------------------------------------------------------------------------
async def ws_open(port: int, path: str, cookie: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{HOST}:{port}\r\n"
            f"Cookie: {cookie}\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"handshake refused: {head!r}")
    return reader, writer


async def ws_message(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, Any] | None:
    """The next text message as JSON, answering pings on the way; ``None`` once the server closes."""
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(length)
        opcode = first & 0x0F
        if opcode == 0x8:
            return None
        if opcode == 0x9:  # daphne pings every 20 s and drops a client that does not answer
            mask = os.urandom(4)
            masked = bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))
            writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            continue
        if opcode == 0x1:
            result: dict[str, Any] = json.loads(payload)
            return result


async def sse_open(port: int, path: str, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"stream refused: {head!r}")
    return reader, writer


def start_run(server: dict[str, Any], workflow: str, wait: bool = False) -> str:
    response = requests.post(
        f"http://{HOST}:{server['port']}/workflows/api/workflows/{workflow}/runs",
        json={"wait": wait},
        headers={"Authorization": f"Bearer {server['token']}"},
        timeout=120,
    )
    response.raise_for_status()
    return str(response.json()["run_id"])


# -- measurements -----------------------------------------------------------------------
async def measure_feed(server: dict[str, Any], sockets: int, starts: int) -> dict[str, float]:
    clients = [
        await ws_open(server["port"], "/ws/workflows/runs/?workflow=bench-quick", server["cookie"])
        for _ in range(sockets)
    ]

    async def until_all_succeeded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done: set[str] = set()
        while len(done) < starts:
            message = await ws_message(reader, writer)
            if message is not None and message["status"] == "success":
                done.add(message["run_id"])

    watchers = [asyncio.ensure_future(until_all_succeeded(reader, writer)) for reader, writer in clients]
    began = time.perf_counter()
    for _ in range(starts):
        await asyncio.to_thread(start_run, server, "bench-quick")
    started = time.perf_counter() - began
    await asyncio.wait_for(asyncio.gather(*watchers), 900)
    seen = time.perf_counter() - began
    for _, writer in clients:
        writer.close()
    return {"starts_s": started, "all_seen_s": seen}


async def measure_idle(
    server: dict[str, Any], kind: str, count: int, runs: list[str], seconds: float
) -> dict[str, float]:
    quiet = await _usage(server, seconds)  # the server with no stream: its own sweeps and heartbeats
    streams = []
    for n in range(count):
        run_id = runs[n % len(runs)]
        if kind == "websocket":
            reader, writer = await ws_open(server["port"], f"/ws/workflows/runs/{run_id}/", server["cookie"])
            while (message := await ws_message(reader, writer)) is not None:
                if message["type"] == "workflow-step-suspended":
                    break
        else:
            path = f"/workflows/api/runs/{run_id}/events/stream"
            reader, writer = await sse_open(server["port"], path, server["token"])
            while b"workflow-step-suspended" not in await reader.readuntil(b"\n\n"):
                pass
        streams.append((reader, writer))
    drains = [asyncio.ensure_future(_drain(kind, reader, writer)) for reader, writer in streams]
    await asyncio.sleep(2.0)  # settle: the last replays end
    idle = await _usage(server, seconds)
    for task in drains:
        task.cancel()
    for _, writer in streams:
        writer.close()
    return {
        "cpu_percent": idle["cpu_percent"],
        "transactions_per_s": idle["transactions_per_s"],
        "quiet_cpu_percent": quiet["cpu_percent"],
        "quiet_transactions_per_s": quiet["transactions_per_s"],
    }


async def _drain(kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read what an idle stream still gets (keep-alives, pings), answering pings."""
    if kind == "websocket":
        while await ws_message(reader, writer) is not None:
            pass
    else:
        await reader.read(-1)


async def _usage(server: dict[str, Any], seconds: float) -> dict[str, float]:
    cpu, transactions = _cpu_seconds(server["pid"]), _transactions(server["database"])
    await asyncio.sleep(seconds)
    cpu = _cpu_seconds(server["pid"]) - cpu
    transactions = _transactions(server["database"]) - transactions
    return {"cpu_percent": 100 * cpu / seconds, "transactions_per_s": transactions / seconds}


async def measure_tree(tree: Path, options: argparse.Namespace, sse_streams: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with serve(tree) as server:
        results["feed"] = await measure_feed(server, options.feed, options.starts)
    if options.feed_only:
        return results
    with serve(tree) as server:
        runs = [await asyncio.to_thread(start_run, server, "bench-waiting", True) for _ in range(10)]
        results["websocket"] = await measure_idle(
            server, "websocket", options.idle, runs, options.idle_seconds
        )
    with serve(tree) as server:
        runs = [await asyncio.to_thread(start_run, server, "bench-waiting", True) for _ in range(10)]
        results["sse"] = await measure_idle(server, "sse", sse_streams, runs, options.idle_seconds)
        results["sse"]["streams"] = sse_streams
    return results


def table(before: dict[str, Any], after: dict[str, Any], options: argparse.Namespace) -> str:
    rows = [
        (
            f"runs feed: {options.starts} starts, then all seen by {options.feed} feed sockets (s)",
            before["feed"]["all_seen_s"],
            after["feed"]["all_seen_s"],
            ".1f",
        ),
        (
            f"runs feed: the {options.starts} start requests alone (s)",
            before["feed"]["starts_s"],
            after["feed"]["starts_s"],
            ".1f",
        ),
        (
            f"{options.idle} idle WebSockets: server CPU (% of a core)",
            before["websocket"]["cpu_percent"],
            after["websocket"]["cpu_percent"],
            ".1f",
        ),
        (
            f"{options.idle} idle WebSockets: database transactions per second",
            before["websocket"]["transactions_per_s"],
            after["websocket"]["transactions_per_s"],
            ".1f",
        ),
        (
            f"idle SSE streams ({before['sse']['streams']} before, {after['sse']['streams']} after):"
            " server CPU (% of a core)",
            before["sse"]["cpu_percent"],
            after["sse"]["cpu_percent"],
            ".1f",
        ),
        (
            "idle SSE streams: database transactions per second",
            before["sse"]["transactions_per_s"],
            after["sse"]["transactions_per_s"],
            ".1f",
        ),
    ]
    rows += [
        (
            "no stream open: server CPU (% of a core; the engine's own sweeps)",
            before["websocket"]["quiet_cpu_percent"],
            after["websocket"]["quiet_cpu_percent"],
            ".1f",
        ),
        (
            "no stream open: database transactions per second",
            before["websocket"]["quiet_transactions_per_s"],
            after["websocket"]["quiet_transactions_per_s"],
            ".1f",
        ),
    ]
    lines = ["| measurement | before | after |", "|---|---|---|"]
    lines += [f"| {name} | {old:{fmt}} | {new:{fmt}} |" for name, old, new, fmt in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_before = subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    parser.add_argument("--before", default=default_before)
    parser.add_argument("--feed", type=int, default=300)
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--idle", type=int, default=400)
    parser.add_argument("--idle-sse", type=int, default=150)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--feed-only", action="store_true", help="measure the runs feed alone")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tree = export_tree(options.before, Path(scratch))
        before = asyncio.run(measure_tree(tree, options, min(options.idle_sse, BEFORE_SSE_STREAMS)))
    after = asyncio.run(measure_tree(ROOT, options, options.idle_sse))
    sys.stdout.write(json.dumps({"before": before, "after": after}) + "\n\n")
    if options.feed_only:
        return
    sys.stdout.write(
        f"before = {options.before[:10]}, after = this tree\n\n{table(before, after, options)}\n"
    )


if __name__ == "__main__":
    main()
