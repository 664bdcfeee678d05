"""The end of 0010 and 0011: every turn names its user now, so `user` is required; turns are read
by user and by when they ended (quotas, insights); the usage table goes, and the
"Conversation reviewers" group reads turns where it read usage rows."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GROUP_NAME = "Conversation reviewers"


def reviewers_read_turns(apps, schema_editor):
    """The group reads turns, as it read usage rows (see 0002); the usage table's own
    permissions go with it."""
    app_config = apps.get_app_config("chat")
    app_config.models_module = True  # as in 0002: create_permissions needs one
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view_turn = Permission.objects.get(content_type__app_label="chat", codename="view_turn")
    for group in Group.objects.filter(name=GROUP_NAME):
        group.permissions.add(view_turn)
    Permission.objects.filter(
        content_type__app_label="chat", content_type__model="tokenusage"
    ).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0011_usage_rows_become_turns"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="turn",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="chat_turns",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="turn",
            index=models.Index(fields=["user", "finished_at"], name="chat_turn_user_finished"),
        ),
        migrations.AddIndex(
            model_name="turn",
            index=models.Index(fields=["finished_at"], name="chat_turn_finished"),
        ),
        migrations.DeleteModel(
            name="TokenUsage",
        ),
        migrations.RunPython(reviewers_read_turns, migrations.RunPython.noop),
    ]
