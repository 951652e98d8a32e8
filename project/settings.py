"""Settings of the project that serves workflows_app, all from environment variables.

Embedded default (nothing to set): SQLite in WAL mode and the in-memory channel
layer. Distributed: ``DATABASE_URL=postgres://...`` and ``REDIS_URL=redis://...``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = os.environ.get("DEBUG", "1") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

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
for _key in ("LEASE_SECONDS", "POLL_SECONDS", "SWEEP_SECONDS", "HEARTBEAT_SECONDS", "CANCEL_GRACE_SECONDS"):
    if f"WORKFLOWS_{_key}" in os.environ:
        WORKFLOWS[_key] = float(os.environ[f"WORKFLOWS_{_key}"])
if "WORKFLOWS_INLINE_WHEN_NO_WORKER" in os.environ:
    WORKFLOWS["INLINE_WHEN_NO_WORKER"] = os.environ["WORKFLOWS_INLINE_WHEN_NO_WORKER"] == "1"
if os.environ.get("WORKFLOWS_MODULES"):
    WORKFLOWS["MODULES"] = os.environ["WORKFLOWS_MODULES"].split(",")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"workflows_app": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")}},
}
