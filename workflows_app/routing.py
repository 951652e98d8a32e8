"""WebSocket URL patterns of the app, for the project's ``URLRouter``.

The last pattern closes any other socket under ``ws/workflows/`` with 4404; a
project can end its own patterns with :data:`unknown_path` to do the same for
every path it does not serve (``URLRouter`` otherwise raises, and the server
logs a traceback).
"""

from __future__ import annotations

from django.urls import path, re_path

from .consumers import RunEventsConsumer, RunsConsumer, UnknownPathConsumer

unknown_path = re_path(r"", UnknownPathConsumer.as_asgi())

websocket_urlpatterns = [
    path("ws/workflows/runs/", RunsConsumer.as_asgi()),
    path("ws/workflows/runs/<str:run_id>/", RunEventsConsumer.as_asgi()),
    re_path(r"^ws/workflows/", UnknownPathConsumer.as_asgi()),
]
