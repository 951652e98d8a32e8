"""URLs of workflows_app; include them under a prefix of your choice, e.g. ``workflows/``.

No ``app_name``: the REST API has its own namespace, ``workflows_api``.
"""

from django.urls import path

from .api.site import api

urlpatterns = [
    path("api/", api.urls),
]
