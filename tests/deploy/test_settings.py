"""The project's settings are safe by default: production is what you get unless you say development.

Each case runs ``manage.py`` in a process of its own with an environment built
from nothing but what it names, as a server would start.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    """The variables a production server sets (docs/deployment.md), over a bare environment."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="workflows.example.com",
        CSRF_TRUSTED_ORIGINS="https://workflows.example.com",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    env.update(extra)
    return {key: value for key, value in env.items() if value}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def settings_of(env: dict[str, str], *names: str) -> list[Any]:
    """The values of ``names`` in the settings a process with ``env`` gets."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps([getattr(settings, name) for name in {list(names)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    values: list[Any] = json.loads(done.stdout)
    return values


def test_check_deploy_is_clean_in_production() -> None:
    done = manage(production_env(), "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_debug_is_off_and_https_on_unless_asked() -> None:
    debug, redirect, secure_cookie = settings_of(
        production_env(), "DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE"
    )

    assert (debug, redirect, secure_cookie) == (False, True, True)


def test_production_refuses_to_start_without_a_secret_key() -> None:
    done = manage(production_env(SECRET_KEY=""), "check")

    assert done.returncode != 0
    assert "Set SECRET_KEY" in done.stderr
    assert "DEBUG=1" in done.stderr


def test_development_mode_has_a_key_and_local_hosts() -> None:
    debug, hosts = settings_of(
        production_env(SECRET_KEY="", ALLOWED_HOSTS="", DEBUG="1"), "DEBUG", "ALLOWED_HOSTS"
    )

    assert debug is True
    assert hosts == ["127.0.0.1", "localhost"]


def test_hosts_and_trusted_origins_come_from_the_environment() -> None:
    env = production_env(
        ALLOWED_HOSTS="a.example.com, b.example.com", CSRF_TRUSTED_ORIGINS="https://a.example.com"
    )

    hosts, origins = settings_of(env, "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")

    assert hosts == ["a.example.com", "b.example.com"]
    assert origins == ["https://a.example.com"]


def test_a_flag_that_is_not_one_is_refused_at_once() -> None:
    done = manage(production_env(DEBUG="maybe"), "check")

    assert done.returncode != 0
    assert "DEBUG='maybe': use 1 or 0" in done.stderr
