"""The test suite's settings: the project's, on a development machine.

``project.settings`` is safe by default (``DEBUG`` off, ``SECRET_KEY``
required, HTTPS redirects); tests run as ``dev.py test`` does, with ``DEBUG=1``
and so the development key. Set in the environment, so that the ``manage.py``
processes some tests start get the same.
"""

import os

os.environ.setdefault("DEBUG", "1")

from project.settings import *  # noqa: F403
