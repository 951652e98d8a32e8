"""Settings of the project that serves workflows_app, all from environment variables.

Safe by default: ``DEBUG`` is off and ``SECRET_KEY`` must be given, unless
``DEBUG=1`` says this is a development machine (``dev.py serve`` and the tests
set it). Embedded default (nothing else to set): SQLite in WAL mode and the
in-memory channel layer. Distributed: ``DATABASE_URL=postgres://...`` and
``REDIS_URL=redis://...``. docs/deployment.md lists every variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use 1 or 0")


def _list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = _flag("DEBUG", False)
# Development only: a key anyone can read. Production refuses to start without its own.
_DEVELOPMENT_KEY = "development-only-insecure-key-never-deploy-it"
SECRET_KEY = os.environ.get("SECRET_KEY", "") or (_DEVELOPMENT_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "Set SECRET_KEY (e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
        "or DEBUG=1 on a development machine. See docs/deployment.md."
    )
ALLOWED_HOSTS = _list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
# Origins (scheme://host[:port]) whose unsafe requests CSRF lets through besides the site's own,
# e.g. https://ops.example.com when a TLS proxy answers there.
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS")

# HTTPS: on unless DEBUG. Behind a TLS proxy, SECURE_PROXY_SSL_HEADER names the header the proxy
# sets (and strips from clients), e.g. X-Forwarded-Proto, so that Django knows a request was HTTPS.
if _proxy_header := os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip():
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
SECURE_SSL_REDIRECT = _flag("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = _flag("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = _flag("SECURE_HSTS_PRELOAD", not DEBUG)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # serves the REST API docs page from local static files, not a CDN
    "workflows_app",
    "project.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_default_db = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES: dict[str, Any] = {
    "default": dj_database_url.parse(os.environ.get("DATABASE_URL", _default_db), conn_max_age=0)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run while a run commits; the timeout waits out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, as long as
            # channels_redis's blocking receive (BZPOPMIN, 5 s): a longer timeout
            # keeps a message popped at the last moment from being lost
            # (check workflows_app.W001).
            # capacity: a burst of task messages (200 runs started at once) must not
            # overflow a channel: an overflowed hand-out waits for the sweeper.
            "CONFIG": {
                "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": 30}],
                "capacity": 10_000,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

WORKFLOWS: dict[str, Any] = {"ENGINE": os.environ.get("WORKFLOWS_ENGINE", "default")}
for _key in ("WORKER_CONCURRENCY", "MAX_DELIVERIES"):
    if f"WORKFLOWS_{_key}" in os.environ:
        WORKFLOWS[_key] = int(os.environ[f"WORKFLOWS_{_key}"])
for _key in (
    "LEASE_SECONDS",
    "POLL_SECONDS",
    "SWEEP_SECONDS",
    "HEARTBEAT_SECONDS",
    "CANCEL_GRACE_SECONDS",
    "WRITER_BATCH_MS",
):
    if f"WORKFLOWS_{_key}" in os.environ:
        WORKFLOWS[_key] = float(os.environ[f"WORKFLOWS_{_key}"])
if "WORKFLOWS_INLINE_WHEN_NO_WORKER" in os.environ:
    WORKFLOWS["INLINE_WHEN_NO_WORKER"] = os.environ["WORKFLOWS_INLINE_WHEN_NO_WORKER"] == "1"
if os.environ.get("WORKFLOWS_MODULES"):
    WORKFLOWS["MODULES"] = os.environ["WORKFLOWS_MODULES"].split(",")
if os.environ.get("WORKFLOWS_MAX_LOOP_ITERATIONS"):
    WORKFLOWS["MAX_LOOP_ITERATIONS"] = int(os.environ["WORKFLOWS_MAX_LOOP_ITERATIONS"])
if os.environ.get("WORKFLOWS_START_RATE_LIMIT"):
    WORKFLOWS["START_RATE_LIMIT"] = os.environ["WORKFLOWS_START_RATE_LIMIT"]
# The largest request body (bytes) the server reads; a larger one is answered 413 before it is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(4 * 1024 * 1024)))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = os.environ.get("STATIC_URL", "static/")
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every line with its time, and with the run and step it is about (workflows_app.logs): a worker
# runs many steps at once. Records of the app, and warnings of everything else, go to stderr.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"run_context": {"()": "workflows_app.logs.RunContextFilter"}},
    "formatters": {
        "timestamped": {
            "format": "%(asctime)s %(levelname)s %(name)s run=%(run_id)s step=%(step)s %(message)s"
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["run_context"], "formatter": "timestamped"}
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "workflows_app": {"level": LOG_LEVEL},
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
