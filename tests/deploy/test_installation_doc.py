"""docs/installation.md, followed: a new Django project built from its snippets, then a run streamed.

Each ``<!-- file: PATH -->`` snippet becomes that file, each ``<!-- append:
PATH -->`` snippet goes at its end, and the ``<!-- commands -->`` blocks run in
order (``pip install`` is checked, not run: the package is installed here).
Then the test does what the page tells a person to do: starts a run with the
token, opens the page, and follows the run's events over the WebSocket with
the session, as the page's script would.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import re
import shlex
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from websockets.sync.client import connect

from tests.e2e.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PAGE = (ROOT / "docs" / "installation.md").read_text()
SNIPPET = re.compile(r"<!-- (file|append|commands)(?:: (\S+))? -->\n```\w*\n(.*?)```", re.S)


def snippets() -> list[tuple[str, str | None, str]]:
    return [(kind, path, body) for kind, path, body in SNIPPET.findall(PAGE)]


class Project:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.env = {
            "PATH": f"{BIN}:/usr/bin:/bin",
            "HOME": str(folder),
            "LANG": "C.UTF-8",
            "DJANGO_SUPERUSER_PASSWORD": "install-pw",
        }
        self.server: subprocess.Popen[bytes] | None = None
        self.token = ""

    def command(self, line: str) -> None:
        words = shlex.split(line)
        if words[:2] == ["pip", "install"]:
            assert importlib.metadata.version(words[2])  # the name the page gives is the package's
            return
        if words[:3] == ["python", "manage.py", "runserver"]:
            argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
            with (self.folder / "server.log").open("wb") as log:
                self.server = subprocess.Popen(argv, cwd=self.folder, env=self.env, stdout=log, stderr=log)
            return
        if words[:3] == ["python", "manage.py", "createsuperuser"]:
            words.append("--noinput")
        argv = [sys.executable, *words[1:]] if words[0] == "python" else [str(BIN / words[0]), *words[1:]]
        done = subprocess.run(
            argv, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        if "create_workflows_token" in line:
            self.token = done.stdout.strip()

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    def get(self, path: str, cookies: dict[str, str]) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        return response.status, text

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + 90
        while True:
            try:
                self.request("GET", "/admin/login/")
                return
            except OSError:
                log = (self.folder / "server.log").read_text()
                assert time.monotonic() < deadline, f"runserver did not start:\n{log}"
                time.sleep(0.1)

    def log_in(self) -> dict[str, str]:
        """The session cookies of the superuser, through the admin's login form."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("GET", "/admin/login/")
        response = connection.getresponse()
        csrf = SimpleCookie(response.getheader("Set-Cookie"))["csrftoken"].value
        response.read()
        form = {"username": "admin", "password": "install-pw", "csrfmiddlewaretoken": csrf, "next": "/admin/"}
        headers = {"Cookie": f"csrftoken={csrf}", "Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/admin/login/", body=urlencode(form), headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 302, "the login failed"
        session = SimpleCookie(response.getheader("Set-Cookie"))["sessionid"].value
        return {"csrftoken": csrf, "sessionid": session}


@pytest.mark.timeout(600)  # a project built and served from nothing, one process after the other
def test_the_installation_page_builds_a_project_that_streams_a_run(tmp_path: Path) -> None:
    project = Project(tmp_path)
    try:
        for kind, path, body in snippets():
            if kind == "commands":
                for line in body.splitlines():
                    project.command(line)
            else:
                target = tmp_path / str(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("a" if kind == "append" else "w") as file:
                    file.write(("\n" if kind == "append" else "") + body)
        assert project.server is not None and project.token
        project.wait_until_serving()

        curl = re.search(r"-d '(\{.*?\})'", PAGE)
        assert curl is not None
        started = http.client.HTTPConnection("127.0.0.1", project.port, timeout=60)
        started.request(
            "POST",
            "/workflows/api/workflows/orders/runs",
            body=curl.group(1),
            headers={"Authorization": f"Bearer {project.token}", "Content-Type": "application/json"},
        )
        response = started.getresponse()
        run = json.loads(response.read())
        started.close()
        assert response.status == 201, run
        cookies = project.log_in()

        status, page = project.get(f"/orders/{run['run_id']}/", cookies)
        assert status == 200
        assert "/static/workflows_app/stream.js" in page and f'followRun("{run["run_id"]}"' in page
        assert project.get("/static/workflows_app/stream.js", cookies)[0] == 200

        socket_url = f"ws://127.0.0.1:{project.port}/ws/workflows/runs/{run['run_id']}/"
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        events = []
        with connect(
            socket_url, origin=f"http://127.0.0.1:{project.port}", additional_headers={"Cookie": cookie}
        ) as socket:
            while not events or events[-1]["type"] != "workflow-finish":
                events.append(json.loads(socket.recv(timeout=60)))
        assert events[0]["type"] == "workflow-start"
        assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
        results = {e["payload"]["id"]: e["payload"] for e in events if e["type"] == "workflow-step-result"}
        assert results["charge"]["output"] == {"order_id": "o-1", "charged": 25}
        assert results["ship"]["output"] == {"shipped": "o-1"}
    finally:
        if project.server is not None:
            project.server.terminate()
            project.server.wait(timeout=30)
