"""URLs of the project: the admin, and workflows_app under ``/workflows/``."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("workflows/", include("workflows_app.urls")),
]
