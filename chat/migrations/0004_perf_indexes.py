"""Indexes for the admin at scale.

The thread list is ordered by last activity (`updated_at`), and its search matches message
text with `icontains`, which PostgreSQL runs as `UPPER(text) LIKE UPPER('%word%')`: a
trigram GIN index on exactly that expression answers it without reading every item. The
extension and that index exist on PostgreSQL only; SQLite scans (`TrigramExtension` does
nothing on other databases).
"""

from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

TEXT_INDEX = "chat_item_text_trgm"


def create_text_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {TEXT_INDEX} ON chat_threaditem "
            "USING gin (UPPER(text) gin_trgm_ops)"
        )


def drop_text_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {TEXT_INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0003_turns"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="thread",
            index=models.Index(fields=["updated_at", "id"], name="chat_thread_updated"),
        ),
        migrations.AddIndex(
            model_name="thread",
            index=models.Index(fields=["owner", "updated_at"], name="chat_thread_owner_updated"),
        ),
        TrigramExtension(),
        migrations.RunPython(create_text_index, drop_text_index, elidable=False),
    ]
