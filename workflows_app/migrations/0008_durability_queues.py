"""Task rows of the shared queues move to their workflow's queue (``evented/<workflow id>``).

Workers claim and sweep only the queues of the workflows they serve; rows
written before that, in the queues ``evented`` and ``default``, would be served
by no worker of the new code.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

_SHARED = ("evented", "default")


def per_workflow(apps: Any, schema_editor: Any) -> None:
    task = apps.get_model("workflows_app", "WorkflowTask")
    for row in task.objects.filter(queue__in=_SHARED).select_related("run").iterator():
        row.queue = f"{row.queue}/{row.run.workflow_id}"
        row.save(update_fields=["queue"])


def shared(apps: Any, schema_editor: Any) -> None:
    task = apps.get_model("workflows_app", "WorkflowTask")
    for queue in _SHARED:
        task.objects.filter(queue__startswith=f"{queue}/").update(queue=queue)


class Migration(migrations.Migration):
    dependencies = [("workflows_app", "0007_task_queue")]

    operations = [migrations.RunPython(per_workflow, shared)]
