"""The browser tests' fixtures: the server (daphne in its own process) and a logged-in admin page.

The server is the project's ASGI application with WebSockets, on a scratch
database; on the PostgreSQL leg runs are evented, over Redis, with a worker
process. Chromium is Debian's (``chromium``), driven by Playwright; the test
command installs it where missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import ROOT, Cluster, free_port

PASSWORD = "browser-pw"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Cluster, str, Path]]:
    cluster = Cluster(tmp_path)
    gate = tmp_path / "gate"
    engine = "evented" if cluster.postgres else "default"
    env = {
        "WORKFLOWS_MODULES": "tests.browser.browser_workflows",
        "WORKFLOWS_ENGINE": engine,
        "BROWSER_GATE_FILE": str(gate),
        "DEBUG": "1",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    cluster.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.com", **env)
    if engine == "evented":
        cluster.start_worker(**env)
    port = free_port()
    log = (tmp_path / "daphne.log").open("w")
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
        cwd=ROOT,
        env=cluster.env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        cluster.wait_for(lambda: _listening(port))
        yield cluster, f"http://127.0.0.1:{port}", gate
    finally:
        daphne.terminate()
        daphne.wait(timeout=10)
        log.close()
        sys.stderr.write((tmp_path / "daphne.log").read_text()[-5000:])  # shown when the test fails
        cluster.close()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def page(server: tuple[Cluster, str, Path]) -> Iterator[Any]:
    """A Chromium page logged in to the admin as the superuser ``admin``."""
    from playwright.sync_api import sync_playwright

    _, base, _ = server
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is missing: `python3 dev.py test` installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        yield page
        browser.close()
