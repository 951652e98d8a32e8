"""The REST API of workflows_app (django-ninja): see ``site.py`` and docs/rest.md."""
