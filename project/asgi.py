"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Served by daphne in development (``dev.py serve``), by uvicorn in production (docs/deployment.md).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

django_asgi_app = get_asgi_application()

# Django must be set up before the consumers (and their models) are imported.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from workflows_app.asgi import RequestBodyLimitMiddleware  # noqa: E402
from workflows_app.routing import unknown_path, websocket_urlpatterns  # noqa: E402

# In development the ASGI server serves the static files too (the admin's CSS, stream.js);
# in production collect them (manage.py collectstatic) behind the TLS proxy (docs/deployment.md).
# The body limit goes outermost: it refuses an oversized body before anything reads it.
http_app = RequestBodyLimitMiddleware(
    ASGIStaticFilesHandler(django_asgi_app) if settings.DEBUG else django_asgi_app
)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, unknown_path]))
        ),
    }
)
