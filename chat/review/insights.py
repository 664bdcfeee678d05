"""Usage insights for staff: what the chat did per day, per model and per user.

Every figure comes from an indexed query over a date range: turns and their tokens,
model and latency from `TokenUsage` (one row per answer, index on `created_at`), new
threads from `Thread` (index on `created_at`), ratings from `Feedback` (index on
`created_at`), refusals from `LimitRefusal` (index on `created_at`). Grouping happens in
the database; only one row per day, model or user comes back. Percentiles are computed by
PostgreSQL (`percentile_cont`); other databases (SQLite in development) compute them in
Python from the range's values. `scripts/bench_insights.py` measures it on 1,000,000
turns.
"""

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models import Aggregate, Count, FloatField, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from chat.conf import app_settings
from chat.models import Feedback, LimitRefusal, Thread, TokenUsage

# The longest range the page reads at once (a year of days).
MAX_DAYS = 366
# Users listed by tokens used, most first.
TOP_USERS = 25


class Percentile(Aggregate):
    """PostgreSQL's ordered-set `percentile_cont(p) WITHIN GROUP (ORDER BY x)`."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float, **extra: Any) -> None:
        # A constant of this module, never user input, so it is written into the SQL.
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class Filters:
    """A date range (inclusive, days in the site's time zone) and optionally one user."""

    start: date
    end: date
    user_id: int | None = None

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        tz = timezone.get_current_timezone()
        return (
            datetime.combine(self.start, time.min, tzinfo=tz),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz),
        )

    def rows(self, queryset: QuerySet, user_field: str = "user_id") -> QuerySet:
        since, until = self.bounds()
        rows = queryset.filter(created_at__gte=since, created_at__lt=until)
        if self.user_id is not None:
            rows = rows.filter(**{user_field: self.user_id})
        return rows


def default_filters(today: date | None = None, days: int = 30) -> Filters:
    today = today or timezone.localdate()
    return Filters(start=today - timedelta(days=days - 1), end=today)


def parse_filters(start: str, end: str, user: str, today: date | None = None) -> Filters:
    """Filters from the page's query string; ValueError naming what is wrong."""
    fallback = default_filters(today)
    try:
        first = date.fromisoformat(start) if start else fallback.start
        last = date.fromisoformat(end) if end else fallback.end
    except ValueError:
        raise ValueError("Dates are YYYY-MM-DD, like 2026-01-31.") from None
    if last < first:
        raise ValueError("The end date is before the start date.")
    if (last - first).days >= MAX_DAYS:
        raise ValueError(f"At most {MAX_DAYS} days at once.")
    user_id = None
    if user:
        user_model = get_user_model()
        user_id = (
            user_model._default_manager.filter(**{user_model.USERNAME_FIELD: user})
            .values_list("pk", flat=True)
            .first()
        )
        if user_id is None:
            raise ValueError(f"No user named '{user}'.")
    return Filters(start=first, end=last, user_id=user_id)


def cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """Estimated US dollars, from CHAT_MODEL_PRICES (0 for a model without a price)."""
    price_in, price_out = app_settings.MODEL_PRICES.get(model, (0.0, 0.0))
    return (input_tokens * price_in + output_tokens * price_out) / 1_000_000


@dataclass
class Day:
    day: date
    messages: int = 0
    active_users: int = 0
    threads: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    positive: int = 0
    negative: int = 0
    refusals: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class Group:
    """Totals for one model or one user."""

    name: str
    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    first_token_p50: float | None = None
    first_token_p95: float | None = None
    duration_p50: float | None = None
    duration_p95: float | None = None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class Insights:
    filters: Filters
    days: list[Day]
    models: list[Group]
    users: list[Group]
    latency: Group
    refusals: dict[str, int] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)
    # Rated answers by review status (the feedback review queue), in the range.
    reviews: dict[str, int] = field(default_factory=dict)

    @property
    def totals(self) -> Day:
        total = Day(day=self.filters.end)
        for row in self.days:
            for name in (
                "messages", "threads", "input_tokens", "output_tokens", "cost",
                "positive", "negative", "refusals",
            ):
                setattr(total, name, getattr(total, name) + getattr(row, name))
        return total


def day_of(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def on_postgresql(model: type) -> bool:
    return connections[router.db_for_read(model)].vendor == "postgresql"


def quantile(values: list[int], fraction: float) -> float | None:
    """Linear-interpolated percentile, the same definition as `percentile_cont`."""
    if not values:
        return None
    values = sorted(values)
    position = (len(values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


def latencies(rows: QuerySet, group: str | None) -> dict[Any, dict[str, float | None]]:
    """p50/p95 of time to first token and answer duration (ms), per `group` value (or
    for all rows, under None)."""
    names = {
        "first_token_p50": ("first_token_ms", 0.5),
        "first_token_p95": ("first_token_ms", 0.95),
        "duration_p50": ("duration_ms", 0.5),
        "duration_p95": ("duration_ms", 0.95),
    }
    if on_postgresql(TokenUsage):
        grouped = rows.order_by()
        grouped = grouped.values(group) if group else grouped
        aggregates = {name: Percentile(column, fraction) for name, (column, fraction) in
                      names.items()}
        if group:
            return {
                row[group]: row for row in grouped.annotate(**aggregates)
            }
        return {None: grouped.aggregate(**aggregates)}
    values: dict[Any, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for key, first, duration in rows.order_by().values_list(
        group or "pk", "first_token_ms", "duration_ms"
    ):
        key = key if group else None
        if first is not None:
            values[key]["first_token_ms"].append(first)
        if duration is not None:
            values[key]["duration_ms"].append(duration)
    return {
        key: {name: quantile(columns[column], fraction) for name, (column, fraction) in
              names.items()}
        for key, columns in values.items()
    }


def with_latency(group: Group, figures: dict[str, float | None] | None) -> Group:
    for name, value in (figures or {}).items():
        if hasattr(group, name):
            setattr(group, name, value)
    return group


def daily(filters: Filters, usage: QuerySet) -> list[Day]:
    days = {day: Day(day=day) for day in filters.days}
    by_day = TruncDate("created_at", tzinfo=timezone.get_current_timezone())
    per_model = (
        usage.annotate(day=by_day)
        .values("day", "model")
        .annotate(n=Count("pk"), i=Sum("input_tokens"), o=Sum("output_tokens"))
    )
    for row in per_model:
        entry = days.get(day_of(row["day"]))
        if entry is None:
            continue
        entry.messages += row["n"]
        entry.input_tokens += row["i"] or 0
        entry.output_tokens += row["o"] or 0
        entry.cost += cost(row["model"], row["i"] or 0, row["o"] or 0)
    for row in usage.annotate(day=by_day).values("day").annotate(
        n=Count("user_id", distinct=True)
    ):
        if (entry := days.get(day_of(row["day"]))) is not None:
            entry.active_users = row["n"]
    threads = filters.rows(Thread.objects.all(), "owner_id")
    for row in threads.annotate(day=by_day).values("day").annotate(n=Count("pk")):
        if (entry := days.get(day_of(row["day"]))) is not None:
            entry.threads = row["n"]
    feedback = filters.rows(Feedback.objects.all())
    for row in feedback.annotate(day=by_day).values("day", "kind").annotate(n=Count("pk")):
        if (entry := days.get(day_of(row["day"]))) is not None:
            setattr(entry, row["kind"], row["n"])
    refusals = filters.rows(LimitRefusal.objects.all())
    for row in refusals.annotate(day=by_day).values("day").annotate(n=Count("pk")):
        if (entry := days.get(day_of(row["day"]))) is not None:
            entry.refusals = row["n"]
    return list(days.values())


def by_model(usage: QuerySet) -> list[Group]:
    figures = latencies(usage, "model")
    groups = [
        with_latency(
            Group(
                name=row["model"] or "(not recorded)",
                messages=row["n"],
                input_tokens=row["i"] or 0,
                output_tokens=row["o"] or 0,
                cost=cost(row["model"], row["i"] or 0, row["o"] or 0),
            ),
            figures.get(row["model"]),
        )
        for row in usage.order_by()
        .values("model")
        .annotate(n=Count("pk"), i=Sum("input_tokens"), o=Sum("output_tokens"))
    ]
    return sorted(groups, key=lambda group: group.tokens, reverse=True)


def by_user(usage: QuerySet, limit: int = TOP_USERS) -> list[Group]:
    """The `limit` users who used the most tokens; cost summed over their models."""
    user_field = f"user__{get_user_model().USERNAME_FIELD}"
    per_model = (
        usage.order_by()
        .values("user_id", user_field, "model")
        .annotate(n=Count("pk"), i=Sum("input_tokens"), o=Sum("output_tokens"))
    )
    groups: dict[Any, Group] = {}
    for row in per_model:
        group = groups.setdefault(row["user_id"], Group(name=row[user_field]))
        group.messages += row["n"]
        group.input_tokens += row["i"] or 0
        group.output_tokens += row["o"] or 0
        group.cost += cost(row["model"], row["i"] or 0, row["o"] or 0)
    return sorted(groups.values(), key=lambda group: group.tokens, reverse=True)[:limit]


def insights(filters: Filters) -> Insights:
    """Everything the insights page shows for these filters."""
    usage = filters.rows(TokenUsage.objects.all())
    models = by_model(usage)
    refusals = {
        LimitRefusal.Limit(row["limit"]).label if row["limit"] in LimitRefusal.Limit.values
        else row["limit"]: row["n"]
        for row in filters.rows(LimitRefusal.objects.all())
        .order_by()
        .values("limit")
        .annotate(n=Count("pk"))
    }
    priced = app_settings.MODEL_PRICES
    statuses = dict(
        filters.rows(Feedback.objects.all())
        .order_by()
        .values_list("review_status")
        .annotate(n=Count("pk"))
    )
    reviews = {label: statuses.get(value, 0) for value, label in Feedback.ReviewStatus.choices}
    return Insights(
        filters=filters,
        days=daily(filters, usage),
        models=models,
        users=by_user(usage),
        latency=with_latency(Group(name="all models"), latencies(usage, None).get(None)),
        refusals=refusals,
        unpriced=[group.name for group in models if group.name not in priced],
        reviews=reviews,
    )


CSV_COLUMNS = [
    "day", "messages", "active_users", "threads", "input_tokens", "output_tokens",
    "estimated_cost_usd", "feedback_positive", "feedback_negative", "refusals",
]


def as_csv(report: Insights) -> str:
    """The per-day table as CSV, one row per day of the range."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in report.days:
        writer.writerow([
            row.day.isoformat(), row.messages, row.active_users, row.threads,
            row.input_tokens, row.output_tokens, f"{row.cost:.4f}", row.positive,
            row.negative, row.refusals,
        ])
    return buffer.getvalue()
