"""`chat.review_feedback`: setting the review status and note of a rating in the feedback
review queue, given to the "Conversation reviewers" group (whose other permissions only
read, see 0002)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP_NAME = "Conversation reviewers"


def grant_to_reviewers(apps, schema_editor):
    app_config = apps.get_app_config("chat")
    app_config.models_module = True  # as in 0002: create_permissions needs one
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="chat", codename="review_feedback")
    for group in Group.objects.filter(name=GROUP_NAME):
        group.permissions.add(permission)


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0008_quota_overrides'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='feedback',
            options={'permissions': [('review_feedback', 'Can set the review status and note of ratings')]},
        ),
        migrations.RunPython(grant_to_reviewers, migrations.RunPython.noop),
    ]
