"""The test suite's settings: the project's, on a development machine.

``project.settings`` is safe by default (``DEBUG`` off, ``SECRET_KEY``
required, HTTPS redirects); tests run as ``dev.py test`` does, with ``DEBUG=1``
and so the development key. Set in the environment, so that the ``manage.py``
processes some tests start get the same.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DEBUG", "1")

from project.settings import *  # noqa: F403
from project.settings import DATABASES

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not Django's default shared-cache in-memory test database: shared cache
    # locks whole tables and answers "database table is locked" at once to a second
    # thread (an embedded worker, a WSGI request) instead of waiting out the write
    # lock as WAL and the busy timeout do on a file. One file per test process, so
    # that two suites (the CI's legs) can run side by side.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"workflows-test-{os.getpid()}.sqlite3")
    }
else:
    # Tests never outlive a crash of the server: commits need not wait for the WAL on disk.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"
    if os.environ.get("TEST_DATABASE_NAME"):
        # dev.py runs the PostgreSQL leg in shards side by side, each on a test database of its own.
        DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}
