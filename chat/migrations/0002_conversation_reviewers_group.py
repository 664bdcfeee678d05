"""The "Conversation reviewers" group: staff who may read and export conversations in
admin, and change or delete nothing.

Permissions are normally created after all migrations run (post_migrate), so on a fresh
database they do not exist yet here: create them first. Running it again brings the
group's permissions back to exactly this list.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP_NAME = "Conversation reviewers"
PERMISSIONS = [
    "view_thread",
    "view_threaditem",
    "view_feedback",
    "view_attachment",
    "view_tokenusage",
]


def create_reviewer_group(apps, schema_editor):
    app_config = apps.get_app_config("chat")
    app_config.models_module = True  # historical app configs have none; create_permissions needs one
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP_NAME)
    permissions = Permission.objects.filter(
        content_type__app_label="chat", codename__in=PERMISSIONS
    )
    group.permissions.set(permissions)


def remove_reviewer_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("chat", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_reviewer_group, remove_reviewer_group)]
