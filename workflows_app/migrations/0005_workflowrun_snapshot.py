from django.db import migrations, models

import workflows_app.models


class Migration(migrations.Migration):
    dependencies = [
        ("workflows_app", "0004_api_tokens_and_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="workflowrun",
            name="snapshot",
            field=models.JSONField(blank=True, encoder=workflows_app.models.WorkflowJSONEncoder, null=True),
        ),
    ]
