"""docs/deployment.md, followed: its environment, its commands, then a page, a refusal and a run.

The block marked ``deployment-commands`` is read from the page. Its ``export``
lines are evaluated by bash as written (the secret key is generated as the page
says); only the addresses of the database, Redis and the static folder are
replaced by the test's own. Its ``python manage.py`` lines run in order; the
server and the worker lines are started as the page starts them, on a free
port. Then the test asks what the TLS proxy would pass on.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.cluster import POSTGRES_ADMIN, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "workflows.example.com"


def documented_block() -> list[str]:
    text = (ROOT / "docs" / "deployment.md").read_text()
    block = re.search(r"<!-- deployment-commands -->\n```sh\n(.*?)```", text, re.S)
    assert block is not None, "docs/deployment.md lost its deployment-commands block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def documented_env(exports: list[str]) -> dict[str, str]:
    """The environment the page's ``export`` lines build, evaluated by bash from a bare environment."""
    bare = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", str(ROOT)), "LANG": "C.UTF-8"}
    script = "\n".join([*exports, "python -c 'import json, os; print(json.dumps(dict(os.environ)))'"])
    done = subprocess.run(["bash", "-c", script], env=bare, capture_output=True, text=True, check=True)
    env: dict[str, str] = json.loads(done.stdout.splitlines()[-1])
    return env


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A scratch database: PostgreSQL on the PostgreSQL leg, as the page says; SQLite otherwise."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
        return
    name = f"wf_deploy_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Site:
    """The processes the page starts, and requests as the proxy would send them."""

    def __init__(self, env: dict[str, str], port: int, logs: Path) -> None:
        self.env = env
        self.port = port
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(line), cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done

    def start(self, line: str) -> None:
        with (self.logs / f"process-{len(self.processes)}.log").open("wb") as log:
            self.processes.append(
                subprocess.Popen(self.argv(line), cwd=ROOT, env=self.env, stdout=log, stderr=log)
            )

    def output(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.logs.glob("process-*.log")))

    def argv(self, line: str) -> list[str]:
        words = line.split("#")[0].split()
        if words[0] == "python":
            return [sys.executable, *words[1:]]
        words = [str(BIN / words[0]), *words[1:]]
        return [str(self.port) if word == "8000" else word for word in words]

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            sent = {"Host": HOST, "X-Forwarded-Proto": "https", **(headers or {})}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.request("GET", "/admin/login/")
                return
            except OSError:
                assert time.monotonic() < deadline, f"the server did not start:\n{self.output()}"
                time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


@pytest.mark.timeout(600)  # six processes start one after the other
def test_the_deployment_page_gives_a_working_site(database: str, tmp_path: Path) -> None:
    lines = documented_block()
    exports = [line for line in lines if line.startswith("export ")]
    commands = [line for line in lines if not line.startswith("export ")]
    env = documented_env(exports)
    assert env["SECRET_KEY"] and "DEBUG" not in env  # production: the page never sets DEBUG
    env.update(
        DATABASE_URL=database,
        REDIS_URL=os.environ.get("REDIS_URL")
        or os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        STATIC_ROOT=str(tmp_path / "static"),
    )
    site = Site(env, free_port(), tmp_path)
    try:
        for line in commands:
            if line.startswith("python manage.py") and "workflows_worker" not in line:
                site.run(line)
            else:
                site.start(line)
        site.wait_until_serving()

        assert (tmp_path / "static" / "admin" / "css" / "base.css").exists()
        assert (tmp_path / "static" / "workflows_app" / "stream.js").exists()

        status, headers, _ = site.request("GET", "/admin/login/")
        assert status == 200
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")

        status, headers, _ = site.request("GET", "/admin/login/", headers={"X-Forwarded-Proto": "http"})
        assert (status, headers["Location"]) == (301, f"https://{HOST}/admin/login/")

        status, headers, body = site.request(
            "POST", "/workflows/api/workflows/count-up/runs", headers={"Content-Length": "300000000"}
        )
        assert status == 413
        assert headers["content-type"] == "application/problem+json"

        user_env = {**env, "DJANGO_SUPERUSER_PASSWORD": "deploy-pw"}
        createsuperuser = "python manage.py createsuperuser --noinput --username ops --email ops@example.com"
        Site(user_env, site.port, tmp_path).run(createsuperuser)
        token = site.run("python manage.py create_workflows_token ops").stdout.strip()
        start = {"input_data": {"value": 0, "target": 3}, "wait": True, "timeout": 60}
        status, _, body = site.request(
            "POST",
            "/workflows/api/workflows/count-up/runs",
            body=json.dumps(start).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert status == 201, body + site.output().encode()
        run = json.loads(body)
        assert (run["status"], run["engine"], run["result"]) == (
            "success",
            "evented",
            {"value": 3, "target": 3},
        )
    finally:
        site.stop()
