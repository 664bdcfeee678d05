"""Keyset pages of threads and items, and the `after` cursors that continue them.

Pages are ordered by `created_at`, ties broken by the primary key (for items, the
insertion order); both tables have an index ending in these columns. The next page starts
after the previous page's last row: one row comparison, `(created_at, id) > (…)`, which
PostgreSQL and SQLite answer by walking that index from the position straight on, so a
page deep in a long thread costs what the first one does.

The `after` a page hands out is a position cursor: the last row's `created_at` and key,
so the next page compares with values and reads no anchor row. An `after` that is an
item or thread id (as the SDK and older clients may send) still works: that row is
looked up in the same query. A cursor is only ever compared with the user's own rows, so
one that was tampered with can move a page, never widen it.
"""

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chatkit.types import Page
from django.core.exceptions import ValidationError
from django.db.models import BooleanField, DateTimeField, Expression, F, QuerySet, Value

KEYSET = ("created_at", "id")
CURSOR_PREFIX = "pos_"


def cursor_for(created_at: datetime, key: Any) -> str:
    """The `after` of a page whose last row is at (`created_at`, `key`)."""
    position = f"{created_at.isoformat()}~{key}".encode()
    return CURSOR_PREFIX + base64.urlsafe_b64encode(position).decode().rstrip("=")


def position_from(after: str, key_field: Any) -> tuple[datetime, Any] | None:
    """The (created_at, key) a cursor names; None when `after` is not a cursor (an id)."""
    if not after.startswith(CURSOR_PREFIX):
        return None
    encoded = after.removeprefix(CURSOR_PREFIX)
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        created_at, key = text.split("~", 1)
        return datetime.fromisoformat(created_at), key_field.to_python(key)
    except (binascii.Error, UnicodeDecodeError, ValueError, ValidationError):
        return None


class RowAfter(Expression):
    """`(created_at, id) > <the anchor>` (`<` for "desc").

    The anchor is a position, (created_at, key) values, or a query of the anchor row,
    compared as `(SELECT created_at, id FROM …)` in the same query. A missing anchor row
    compares as NULL: no rows.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, order: str, anchor: QuerySet | tuple[datetime, Any], key_field: Any):
        super().__init__()
        self.operator = ">" if order == "asc" else "<"
        self.anchor = anchor
        self.key_field = key_field

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False,
                           for_save=False):
        clone = self.copy()
        clone.columns = [
            F(name).resolve_expression(query, allow_joins, reuse, summarize) for name in KEYSET
        ]
        if isinstance(self.anchor, QuerySet):
            clone.values = None
            clone.anchor_query = (
                self.anchor.order_by().values(*KEYSET).query.resolve_expression(query)
            )
        else:
            created_at, key = self.anchor
            clone.values = [
                Value(created_at, output_field=DateTimeField()),
                Value(key, output_field=self.key_field),
            ]
        return clone

    def as_sql(self, compiler, connection):
        columns, params = self.compiled(compiler, self.columns)
        if self.values is None:
            anchor_sql, anchor_params = compiler.compile(self.anchor_query)
        else:
            values, anchor_params = self.compiled(compiler, self.values)
            anchor_sql = f"({', '.join(values)})"
        return f"({', '.join(columns)}) {self.operator} {anchor_sql}", (*params, *anchor_params)

    @staticmethod
    def compiled(compiler, expressions: list) -> tuple[list[str], list]:
        sqls, params = [], []
        for expression in expressions:
            sql, expression_params = compiler.compile(expression)
            sqls.append(sql)
            params.extend(expression_params)
        return sqls, params


def ordering(order: str) -> list[str]:
    prefix = "" if order == "asc" else "-"
    return [f"{prefix}{name}" for name in KEYSET]


def page_after(
    rows: QuerySet,
    after: str | None,
    anchor_of: Callable[[str], QuerySet],
    order: str,
    limit: int,
) -> tuple[list, bool]:
    """The page of `rows` after `after` (from the start when None), and whether more
    follow, in one query; empty when `after` names no row.

    `anchor_of(after)` is the row an `after` that is an id names, scoped like `rows`:
    another user's row must not even serve as a position. It is not built for a cursor.
    """
    if after is not None:
        key_field = rows.model._meta.pk
        anchor = position_from(after, key_field) or anchor_of(after)
        rows = rows.filter(RowAfter(order, anchor, key_field))
    if limit <= 0:
        return [], rows.exists()
    page = list(rows.order_by(*ordering(order))[: limit + 1])
    return page[:limit], len(page) > limit


def page_of(data: list, has_more: bool, last_position: tuple[datetime, Any] | None) -> Page:
    """A Page whose `after` continues from `last_position` (the last row's), or from the
    last id shown when there is none, when more follow it."""
    if not (has_more and data):
        return Page(data=data, has_more=has_more, after=None)
    after = cursor_for(*last_position) if last_position else data[-1].id
    return Page(data=data, has_more=has_more, after=after)
