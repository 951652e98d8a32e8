"""WebSocket URL patterns of the app, for the project's ``URLRouter``."""

from __future__ import annotations

from django.urls import path

from .consumers import RunEventsConsumer, RunsConsumer

websocket_urlpatterns = [
    path("ws/workflows/runs/", RunsConsumer.as_asgi()),
    path("ws/workflows/runs/<str:run_id>/", RunEventsConsumer.as_asgi()),
]
