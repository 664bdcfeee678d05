"""A turn's record carries what it used; the separate usage table goes (0010 to 0012).

A turn wrote its usage twice: on its own row (tokens, model) and in a `TokenUsage` row,
which outlived the thread for quotas and accounting. The turn's row now does both: it
names its user, outlives its thread (`thread` set to NULL), and holds the timings, so the
end of a turn is one statement instead of two.

This one adds the columns; 0011 fills them and turns the usage rows into answered turns;
0012 makes `user` required and drops the usage table. Three migrations, because on
PostgreSQL rows written in a transaction leave pending constraint checks that forbid
altering or indexing the table later in the same transaction.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


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
    ]
