"""Benchmarks of the surfaces (issue 4): the admin list on a million runs, and the WebSocket.

    .venv/bin/python bench/surfaces.py [--runs 1000000] [--events 2000] [--steps 50]

1. Admin runs list with ``--runs`` rows in a scratch PostgreSQL database: the
   median time of the changelist (unfiltered, by status, by workflow, by date,
   by exact run id) through Django's test client, and its query count.
2. WebSocket, in headless Chromium against daphne (the project's ASGI app): the
   events per second one browser client receives from a run that writes
   ``--events`` events, and the latency from a step's end (its ``ended_at``) to
   the browser's receipt of its ``workflow-step-result`` over ``--steps``
   sequential steps. Measured on the embedded default (SQLite, in-memory layer,
   default engine) and on PostgreSQL + Redis with the evented engine and one
   worker process.

Prints a table and returns it as Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def _scratch_database(name: str) -> str:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def _drop_database(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WORKFLOWS_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(DJANGO_SETTINGS_MODULE="project.settings", WORKFLOWS_MODULES="bench.surface_workflows")
    env.update(extra)
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# -- 1. the admin list on many runs ---------------------------------------------------
_FILL = """
INSERT INTO workflows_app_workflowrun
  (run_id, workflow_id, status, resource_id, input, run_state, request_context, state, result, error,
   definition_hash, engine, generation, version, last_seq, created_at, updated_at)
SELECT md5(i::text), (ARRAY['expense-approval','order-fulfilment','thumbnails','onboarding'])[1 + i %% 4],
       (ARRAY['success','success','success','failed','suspended','running'])[1 + i %% 6],
       'customer-' || (i %% 50000), '{"n": 1}', '{}', '{}', '{}', NULL, NULL, '', 'default', 0, 3, 5,
       now() - (i || ' seconds')::interval, now() - (i || ' seconds')::interval + interval '2 seconds'
FROM generate_series(1, %s) AS i
"""

_ADMIN_PROBE = r"""
import json, statistics, sys, time
import django
django.setup()
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
user = User.objects.create_superuser("bench", "b@example.com", "pw")
client = Client()
client.force_login(user)
run_id = __import__("hashlib").md5(b"777").hexdigest()
base = "/admin/workflows_app/workflowrun/"
pages = {
    "unfiltered": base,
    "status=suspended": base + "?status=suspended",
    "workflow=thumbnails": base + "?workflow_id=thumbnails",
    "last 7 days": base + "?created_at__gte=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 604800)),
    "search by run id": base + "?q=" + run_id,
    "page 100": base + "?p=100",
}
results = {}
for name, url in pages.items():
    client.get(url)  # warm
    times = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    results[name] = {"ms": statistics.median(times), "queries": len(queries)}
print(json.dumps(results))
"""


def bench_admin(runs: int) -> dict[str, Any]:
    name = f"wf_bench_admin_{uuid.uuid4().hex[:6]}"
    url = _scratch_database(name)
    try:
        env = _env(DATABASE_URL=url, ALLOWED_HOSTS="testserver,127.0.0.1,localhost")
        _manage(env, "migrate", "--verbosity", "0")
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(_FILL, [runs])  # type: ignore[arg-type]
            conn.execute("ANALYZE workflows_app_workflowrun")
        fill_seconds = time.perf_counter() - started
        probe = subprocess.run(
            [sys.executable, "-c", _ADMIN_PROBE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            raise RuntimeError(probe.stderr)
        pages: dict[str, Any] = json.loads(probe.stdout.strip().splitlines()[-1])
        return {"runs": runs, "fill_seconds": fill_seconds, "pages": pages}
    finally:
        _drop_database(name)


# -- 2. the WebSocket in a browser ------------------------------------------------------
_LISTEN = """
([workflow, expected]) => { window.__arrivals = new Promise((resolve) => {
  const feed = new WebSocket(`ws://${location.host}/ws/workflows/runs/?workflow=${workflow}`);
  feed.onmessage = (message) => {
    const run = JSON.parse(message.data);
    if (run.event !== "workflow-start") return;
    feed.close();
    const arrivals = [];
    const socket = new WebSocket(`ws://${location.host}/ws/workflows/runs/${run.run_id}/`);
    socket.onmessage = (m) => {
      const event = JSON.parse(m.data);
      arrivals.push({at: performance.timeOrigin + performance.now(), type: event.type,
                     ended: event.payload && event.payload.ended_at, seq: event.seq});
      if (event.type === "workflow-finish") { socket.close(); resolve(arrivals); }
    };
  };
  feed.onopen = () => { window.__feedOpen = true; };
}); }
"""


def _browser_measure(
    base: str, cookie: dict[str, str], workflow: str, data: dict[str, Any]
) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("Debian's chromium is needed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_cookies([{**cookie, "url": base}])  # type: ignore[list-item]
        listener = context.new_page()
        listener.goto(f"{base}/admin/")
        listener.evaluate(_LISTEN, [workflow, 0])
        listener.wait_for_function("window.__feedOpen === true")
        starter = context.new_page()
        starter.goto(f"{base}/admin/workflows_app/workflowrun/workflows/{workflow}/start/")
        starter.fill("textarea[name=json]", json.dumps(data))
        starter.click("input[type=submit]")
        arrivals: list[dict[str, Any]] = listener.evaluate("window.__arrivals")
        browser.close()
    return arrivals


def _session_cookie(env: dict[str, str]) -> dict[str, str]:
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth.models import User\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from django.conf import settings\n"
        "user = User.objects.filter(username='bench').first() or "
        "User.objects.create_superuser('bench', 'b@example.com', 'pw')\n"
        "s = SessionStore(); s['_auth_user_id'] = str(user.pk)\n"
        "s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s['_auth_user_hash'] = user.get_session_auth_hash(); s.create()\n"
        "print(settings.SESSION_COOKIE_NAME, s.session_key)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    name, value = done.stdout.split()
    return {"name": name, "value": value}


def bench_websocket(label: str, env: dict[str, str], events: int, steps: int, workers: int) -> dict[str, Any]:
    import socket

    _manage(env, "migrate", "--verbosity", "0")
    cookie = _session_cookie(env)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "workflows_worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        for _ in range(workers)
    ]
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("daphne did not start")
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        chatty = _browser_measure(base, cookie, "bench-chatty", {"events": events})
        custom = [a for a in chatty if a["type"] == "workflow-step-output"]
        rate = (len(custom) - 1) / ((custom[-1]["at"] - custom[0]["at"]) / 1000) if len(custom) > 1 else 0.0
        steps_run = _browser_measure(base, cookie, "bench-steps", {"steps": steps})
        latencies = [
            a["at"] - a["ended"] for a in steps_run if a["type"] == "workflow-step-result" and a["ended"]
        ]
        return {
            "setup": label,
            "events_received": len(custom),
            "events_per_second": rate,
            "latency_p50_ms": statistics.median(latencies),
            "latency_p99_ms": sorted(latencies)[max(0, round(0.99 * len(latencies)) - 1)],
            "latency_samples": len(latencies),
        }
    finally:
        for process in [server, *processes]:
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--skip-admin", action="store_true")
    options = parser.parse_args()
    lines = []
    if not options.skip_admin:
        admin = bench_admin(options.runs)
        lines += [
            f"Admin runs list, {admin['runs']:,} runs in PostgreSQL "
            f"(filled in {admin['fill_seconds']:.0f} s); "
            "median of 5 requests through Django's test client:",
            "",
            "| page | ms | queries |",
            "|---|---|---|",
            *(f"| {name} | {page['ms']:.1f} | {page['queries']} |" for name, page in admin["pages"].items()),
            "",
        ]
    setups = []
    with tempfile.TemporaryDirectory() as tmp:
        embedded = _env(DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3", DEBUG="1")
        setups.append(
            bench_websocket(
                "embedded: SQLite, in-memory layer, default engine",
                embedded,
                options.events,
                options.steps,
                0,
            )
        )
    name = f"wf_bench_ws_{uuid.uuid4().hex[:6]}"
    try:
        distributed = _env(
            DATABASE_URL=_scratch_database(name),
            REDIS_URL=REDIS_URL,
            WORKFLOWS_ENGINE="evented",
            WORKFLOWS_INLINE_WHEN_NO_WORKER="0",
            DEBUG="1",
        )
        setups.append(
            bench_websocket(
                "distributed: PostgreSQL, Redis, evented, 1 worker process",
                distributed,
                options.events,
                options.steps,
                1,
            )
        )
    finally:
        _drop_database(name)
    lines += [
        "One browser client (headless Chromium) on a run's WebSocket: "
        f"a step writing {options.events:,} events, "
        f"then {options.steps} sequential steps (latency = browser receipt - step's ended_at):",
        "",
        "| setup | events/s received | step end to browser p50 (ms) | p99 (ms) |",
        "|---|---|---|---|",
        *(
            f"| {s['setup']} | {s['events_per_second']:,.0f} "
            f"| {s['latency_p50_ms']:.1f} | {s['latency_p99_ms']:.1f} |"
            for s in setups
        ),
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
