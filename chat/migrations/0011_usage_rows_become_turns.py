"""Each turn gets its thread's owner. Each usage row becomes an answered turn of its own
(`usage_<id>`, complete, started and finished when the usage was written), so quotas and
the insights page see exactly the answers they saw before; the turns that existed already
stay unanswered records (their usage is the row made from it). See 0010.
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery

BATCH = 5000


def owners_and_answers(apps, schema_editor):
    Turn = apps.get_model("chat", "Turn")
    Thread = apps.get_model("chat", "Thread")
    TokenUsage = apps.get_model("chat", "TokenUsage")
    database = schema_editor.connection.alias
    Turn.objects.using(database).update(
        user_id=Subquery(
            Thread.objects.using(database).filter(pk=OuterRef("thread_id")).values("owner_id")[:1]
        )
    )
    batch = []
    for usage in TokenUsage.objects.using(database).order_by("pk").iterator(chunk_size=BATCH):
        batch.append(Turn(
            id=f"usage_{usage.pk}",
            user_id=usage.user_id,
            thread_id=usage.thread_id,
            kind="",
            state="complete",
            started_at=usage.created_at,
            lease_expires_at=usage.created_at,
            finished_at=usage.created_at,
            answered=True,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            model=usage.model,
            first_token_ms=usage.first_token_ms,
            duration_ms=usage.duration_ms,
        ))
        if len(batch) == BATCH:
            Turn.objects.using(database).bulk_create(batch)
            batch = []
    Turn.objects.using(database).bulk_create(batch)


def usage_rows_again(apps, schema_editor):
    """Backwards: the answered turns become usage rows again (dated as they were: the
    column fills itself on insert, so the dates are written after)."""
    Turn = apps.get_model("chat", "Turn")
    TokenUsage = apps.get_model("chat", "TokenUsage")
    database = schema_editor.connection.alias
    answers = Turn.objects.using(database).filter(answered=True).order_by("pk")
    batch, dates = [], []
    for turn in answers.iterator(chunk_size=BATCH):
        batch.append(TokenUsage(
            user_id=turn.user_id,
            thread_id=turn.thread_id,
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            model=turn.model,
            first_token_ms=turn.first_token_ms,
            duration_ms=turn.duration_ms,
        ))
        dates.append(turn.finished_at or turn.started_at)
        if len(batch) == BATCH:
            store_usage_rows(TokenUsage, database, batch, dates)
            batch, dates = [], []
    store_usage_rows(TokenUsage, database, batch, dates)
    Turn.objects.using(database).filter(pk__startswith="usage_").delete()
    Turn.objects.using(database).filter(thread__isnull=True).delete()


def store_usage_rows(TokenUsage, database, rows, dates) -> None:
    created = TokenUsage.objects.using(database).bulk_create(rows)
    for row, date in zip(created, dates, strict=True):
        row.created_at = date
    TokenUsage.objects.using(database).bulk_update(created, ["created_at"])


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0010_turn_carries_usage"),
    ]

    operations = [
        migrations.RunPython(owners_and_answers, usage_rows_again),
    ]
