"""The read every turn starts with: a thread, its newest items, and whether a turn of it
was left running, in one SQL statement.

It is written as SQL rather than through the ORM because it is the one query that every
turn makes and whose cost grows with the history window: each of its rows (41 with
CHAT_HISTORY_ITEMS=40) carries the thread's columns, and the ORM compiled the query and
ran its field converters on every cell of every row, JSON included. As SQL, the thread's
columns are decoded once, and a turn spends about 8% less CPU (two workers side by side,
the README's Performance section). The statement reads the same rows the ORM did, scoped
the same way: by the thread's owner. It is plain SQL that SQLite and PostgreSQL both run;
table and column names come from the models.
"""

import dataclasses
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import connection

from chat import models

# The thread's columns: what `chat.chatkit.store.thread_metadata` reads.
THREAD_FIELDS = ("id", "title", "created_at", "status", "metadata", "allowed_image_domains")


@dataclasses.dataclass(frozen=True)
class History:
    """The thread's row (ThreadMetadata's fields), whether one of its turns is still
    recorded as running, and its newest items as (created_at, JSON text), newest first."""

    thread: dict[str, Any]
    turn_left_running: bool
    items: list[tuple[datetime, str]]


@cache
def statement() -> str:
    item, thread, turn = (model._meta for model in (models.ThreadItem, models.Thread, models.Turn))

    def column(meta: Any, name: str) -> str:
        return connection.ops.quote_name(meta.get_field(name).column)

    def table(meta: Any) -> str:
        return connection.ops.quote_name(meta.db_table)

    thread_columns = ", ".join(f"t.{column(thread, name)}" for name in THREAD_FIELDS)
    thread_id = f"t.{column(thread, 'id')}"
    item_thread = f"i.{column(item, 'thread')}"
    return (
        f"SELECT i.{column(item, 'created_at')}, CAST(i.{column(item, 'data')} AS TEXT), "
        f"EXISTS (SELECT 1 FROM {table(turn)} r WHERE r.{column(turn, 'thread')} = {thread_id} "
        f"AND r.{column(turn, 'state')} = %s), {thread_columns} "
        f"FROM {table(item)} i JOIN {table(thread)} t ON {thread_id} = {item_thread} "
        f"WHERE {item_thread} = %s AND t.{column(thread, 'owner')} = %s "
        f"ORDER BY i.{column(item, 'created_at')} DESC, i.{column(item, 'id')} DESC LIMIT %s"
    )


def newest(thread_id: str, owner_id: Any, limit: int) -> History | None:
    """The user's thread with its newest `limit` items (one more, if there is one, to tell
    whether more came before); None when the query finds no item (an empty thread, or not
    the user's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            statement(), [models.Turn.State.RUNNING.value, thread_id, owner_id, limit + 1]
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    first = rows[0]
    _, title, started, status, metadata, image_domains = first[3:]
    thread = {
        "id": thread_id,
        "title": title,
        "created_at": in_utc(started),
        "status": json_value(status),
        "metadata": json_value(metadata),
        "allowed_image_domains": json_value(image_domains),
    }
    items = [(in_utc(created_at), data) for created_at, data, *_ in rows]
    return History(thread, bool(first[2]), items)


def in_utc(value: datetime) -> datetime:
    """SQLite gives the stored UTC time without its zone; PostgreSQL gives it aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def json_value(text: str | None) -> Any:
    """A JSON column, which Django's backends hand over as text."""
    return None if text is None else json.loads(text)
