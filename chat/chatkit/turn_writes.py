"""The rows every turn writes, as SQL statements made once from the models.

A turn writes five rows: its record when it starts and when it ends (`Turn`), the user's
message and the answer (`ThreadItem`), and the thread's activity. Through the ORM each
write built a model instance or a queryset and compiled its statement again, every turn.
Here each statement is made once per process from the models' tables and columns, and a
write is one `execute`: about 4% of a turn's CPU (two workers side by side, the README's
Performance section). Like `history.py`, the statements are plain SQL that SQLite and
PostgreSQL both run.

Values go through each field's own `get_db_prep_save`, so a row holds exactly what the
ORM would have stored (aware times in UTC, JSON as the backend keeps it), and an insert
gives every column it is not told the field's default. No model signals are sent: nothing
listens for these models' saves (see `chat/apps.py`).
"""

from collections.abc import Mapping
from functools import cache
from typing import Any

from django.db import IntegrityError, connection
from django.db.models import Field, Model

from chat import models

AUTO_FIELDS = {"AutoField", "BigAutoField", "SmallAutoField"}


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def insertable(model: type[Model]) -> tuple[Field, ...]:
    """The columns an insert writes: all but a key the database numbers itself."""
    return tuple(
        field for field in model._meta.concrete_fields
        if field.get_internal_type() not in AUTO_FIELDS
    )


def row_values(model: type[Model], values: Mapping[str, Any]) -> list[Any]:
    """A full row of `model` for the database: `values` by attname, defaults elsewhere."""
    fields = insertable(model)
    if not values.keys() <= {field.attname for field in fields}:
        raise TypeError(f"not columns of {model.__name__}: {sorted(values)}")
    return [
        field.get_db_prep_save(
            values[field.attname] if field.attname in values else field.get_default(),
            connection,
        )
        for field in fields
    ]


@cache
def insert_statement(model: type[Model]) -> str:
    fields = insertable(model)
    return (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )


def insert(model: type[Model], values: Mapping[str, Any]) -> None:
    """Insert one row of `model` (`values` by attname)."""
    with connection.cursor() as cursor:
        cursor.execute(insert_statement(model), row_values(model, values))


@cache
def update_statement(model: type[Model], names: tuple[str, ...]) -> str:
    meta = model._meta
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"


def update(model: type[Model], pk: Any, values: Mapping[str, Any]) -> int:
    """Set `values` (by field name) on the row whose key is `pk`; the rows changed (0 or 1)."""
    meta = model._meta
    params = [
        meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()
    ]
    with connection.cursor() as cursor:
        cursor.execute(update_statement(model, tuple(values)), [*params, pk])
        return cursor.rowcount


# --- the thread's items ----------------------------------------------------------------------


@cache
def item_insert_statement(replaced: tuple[str, ...]) -> str:
    """The item's insert; on the row of the same id, only a checkpoint (`partial`) is
    replaced: its `replaced` columns are set and it is marked finished."""
    table = models.ThreadItem._meta.db_table
    column = {field.attname: field.column for field in insertable(models.ThreadItem)}
    assignments = ", ".join(
        f"{quote(column[name])} = excluded.{quote(column[name])}" for name in replaced
    )
    return (
        f"{insert_statement(models.ThreadItem)} "
        f"ON CONFLICT ({quote(column['thread_id'])}, {quote(column['item_id'])}) "
        f"DO UPDATE SET {assignments}, {quote(column['partial'])} = %s "
        f"WHERE {quote(table)}.{quote(column['partial'])}"
    )


def insert_item(thread_id: str, item_id: str, fields: Mapping[str, Any]) -> None:
    """Store a finished item of the thread (`fields` by attname), replacing its
    checkpoint if one was saved. IntegrityError when a finished item has that id."""
    values = {**fields, "thread_id": thread_id, "item_id": item_id, "partial": False}
    replaced = tuple(name for name in fields if name not in ("thread_id", "item_id"))
    with connection.cursor() as cursor:
        cursor.execute(
            item_insert_statement(replaced), [*row_values(models.ThreadItem, values), False]
        )
        if not cursor.rowcount:
            raise IntegrityError(f"Item {item_id} of thread {thread_id} is stored already")


# --- the thread's activity ---------------------------------------------------------------------


@cache
def activity_statement() -> str:
    meta = models.Thread._meta

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    totals = ", ".join(f"{column(name)} = {column(name)} + %s"
                       for name in ("input_tokens", "output_tokens"))
    return (
        f"UPDATE {quote(meta.db_table)} SET {column('updated_at')} = %s, {totals} "
        f"WHERE {column('id')} = %s AND {column('owner')} = %s"
    )


def add_activity(
    thread_id: str, owner_id: Any, when: Any, input_tokens: int, output_tokens: int
) -> None:
    """The user's thread was active at `when` and used these tokens (added to its totals);
    nothing when the thread is gone or not the user's."""
    updated_at = models.Thread._meta.get_field("updated_at").get_db_prep_save(when, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            activity_statement(),
            [updated_at, input_tokens, output_tokens, thread_id, owner_id],
        )
