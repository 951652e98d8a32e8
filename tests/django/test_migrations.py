"""What the data migrations do to the database, on the backend the tests run on."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection, models

from workflows_app.models import StepAttempt, WorkflowEvent, WorkflowRun

lz4 = importlib.import_module("workflows_app.migrations.0006_json_columns_lz4")


def json_columns() -> set[tuple[str, str]]:
    return {
        (model._meta.db_table, str(field.column))
        for model in (WorkflowRun, StepAttempt, WorkflowEvent)
        for field in model._meta.concrete_fields
        if isinstance(field, models.JSONField)
    }


def stored_compression() -> dict[tuple[str, str], str]:
    """The compression method PostgreSQL keeps per JSON column (SQLite has none)."""
    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attrelid::regclass::text, attname, attcompression FROM pg_attribute "
            "WHERE attrelid::regclass::text = ANY(%s) AND attnum > 0",
            [[table for table, _ in json_columns()]],
        )
        found = {(table, column): method for table, column, method in cursor.fetchall()}
    return {column: found[column] for column in json_columns()}


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor cannot run inside a transaction
def test_the_lz4_migration_alters_the_json_columns_on_postgresql_only() -> None:
    with connection.schema_editor(collect_sql=True) as editor:
        lz4.compress_with_lz4(apps, editor)
    altered = {statement for statement in editor.collected_sql if "SET COMPRESSION lz4" in statement}
    assert len(altered) == (len(json_columns()) if connection.vendor == "postgresql" else 0)


@pytest.mark.django_db
def test_the_json_columns_are_stored_with_lz4_on_postgresql() -> None:
    expected = dict.fromkeys(json_columns(), "l") if connection.vendor == "postgresql" else {}
    assert stored_compression() == expected


queues = importlib.import_module("workflows_app.migrations.0008_durability_queues")


@pytest.mark.django_db(transaction=True)
def test_rows_of_the_shared_queues_move_to_their_workflows_queue_and_back() -> None:
    from workflows_app.models import WorkflowTask

    WorkflowRun.objects.create(run_id="r-old", workflow_id="wf-old", status="running")
    for handout, queue in enumerate(("evented", "default", "default:worker-1")):
        WorkflowTask.objects.create(
            run_id="r-old", key="k", handout=handout, kind="step", queue=queue, available_at=0, created_at=0
        )
    queues.per_workflow(apps, None)
    assert sorted(WorkflowTask.objects.values_list("queue", flat=True)) == [
        "default/wf-old",
        "default:worker-1",  # a default-engine process's private queue stays its own
        "evented/wf-old",
    ]
    queues.shared(apps, None)
    assert sorted(WorkflowTask.objects.values_list("queue", flat=True)) == [
        "default",
        "default:worker-1",
        "evented",
    ]
