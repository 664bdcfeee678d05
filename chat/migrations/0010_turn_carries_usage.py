"""A turn's record carries what it used; the separate usage table goes.

A turn wrote its usage twice: on its own row (tokens, model) and in a `TokenUsage` row,
which outlived the thread for quotas and accounting. The turn's row now does both: it
names its user, outlives its thread (`thread` set to NULL), and holds the timings, so the
end of a turn is one statement instead of two.

The data: each turn gets its thread's owner. Each usage row becomes an answered turn of
its own (`usage_<id>`, complete, started and finished when the usage was written), so
quotas and the insights page see exactly the answers they saw before; the turns that
existed already stay unanswered records (their usage is the row made from it).
The "Conversation reviewers" group reads turns where it read usage rows.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

BATCH = 5000
GROUP_NAME = "Conversation reviewers"


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
    """Backwards: the answered turns become usage rows again."""
    Turn = apps.get_model("chat", "Turn")
    TokenUsage = apps.get_model("chat", "TokenUsage")
    database = schema_editor.connection.alias
    answers = Turn.objects.using(database).filter(answered=True).order_by("pk")
    batch = []
    for turn in answers.iterator(chunk_size=BATCH):
        batch.append(TokenUsage(
            user_id=turn.user_id,
            thread_id=turn.thread_id,
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            created_at=turn.finished_at or turn.started_at,
            model=turn.model,
            first_token_ms=turn.first_token_ms,
            duration_ms=turn.duration_ms,
        ))
        if len(batch) == BATCH:
            TokenUsage.objects.using(database).bulk_create(batch)
            batch = []
    TokenUsage.objects.using(database).bulk_create(batch)
    Turn.objects.using(database).filter(pk__startswith="usage_").delete()
    Turn.objects.using(database).filter(thread__isnull=True).delete()


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
        ("chat", "0009_review_permission"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="turn",
            name="user",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="chat_turns",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="turn",
            name="thread",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="turns",
                to="chat.thread",
            ),
        ),
        migrations.AddField(
            model_name="turn",
            name="answered",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="turn",
            name="first_token_ms",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="turn",
            name="duration_ms",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(owners_and_answers, usage_rows_again),
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
