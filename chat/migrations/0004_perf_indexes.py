"""Indexes for the admin at scale.

The thread list is ordered by last activity (`updated_at`), and its search matches titles
and message text with `icontains`, which PostgreSQL runs as `UPPER(col) LIKE '%WORD%'`:
a trigram GIN index on exactly that expression, one per column, answers it without reading
every row. The extension and those indexes exist on PostgreSQL only; SQLite scans
(`TrigramExtension` does nothing on other databases).
"""

from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

# name -> (table, column): what the admin's search matches with `icontains`.
TEXT_INDEXES = {
    "chat_item_text_trgm": ("chat_threaditem", "text"),
    "chat_thread_title_trgm": ("chat_thread", "title"),
}


def create_text_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, (table, column) in TEXT_INDEXES.items():
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                f"USING gin (UPPER({column}) gin_trgm_ops)"
            )


def drop_text_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in TEXT_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


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
        migrations.RunPython(create_text_indexes, drop_text_indexes, elidable=False),
    ]
