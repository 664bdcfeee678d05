"""Usage insights for staff: what the chat did per day, per model and per user.

Answers, tokens, models and latencies come from the answered turns (`Turn.objects.answers()`,
dated by `finished_at`). For all
users they are read from daily rollups (chat/review/rollup.py: finished days summed once
per model and user, latencies as histograms; today live), so a range costs a few rows per
day however many answers it holds; percentiles are then interpolated within histogram
buckets. For one user they come from that user's own rows (index `(user, finished_at)`),
with exact percentiles: PostgreSQL's `percentile_cont`, or Python on other databases. New
threads, ratings and refusals are indexed, grouped counts over their `created_at`.
Grouping happens in the database. `scripts/bench_insights.py` measures it on 1,000,000
answers.
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
from chat.models import Feedback, LatencyDay, LimitRefusal, Thread, Turn, UsageDay
from chat.review import rollup

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

    def rows(
        self, queryset: QuerySet, user_field: str = "user_id", dated_by: str = "created_at"
    ) -> QuerySet:
        since, until = self.bounds()
        rows = queryset.filter(**{f"{dated_by}__gte": since, f"{dated_by}__lt": until})
        if self.user_id is not None:
            rows = rows.filter(**{user_field: self.user_id})
        return rows


def answers(filters: Filters) -> QuerySet:
    """The answers (answered turns) in the filters' range, by when their usage was written."""
    return filters.rows(Turn.objects.answers(), dated_by="finished_at")


def rated_answers(filters: Filters) -> QuerySet:
    """The votes on the answers given in the filters' range (dated by the answer)."""
    return filters.rows(Feedback.objects.all(), dated_by="item__created_at")


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

    @property
    def feedback_rate(self) -> float | None:
        """Rated answers per answer that day (None without answers)."""
        return (self.positive + self.negative) / self.messages if self.messages else None


@dataclass
class Group:
    """Totals for one model or one user."""

    name: str
    messages: int = 0
    threads: int = 0
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
    if on_postgresql(Turn):
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


class LiveUsage:
    """Usage figures read from the per-turn rows themselves: for one user (an indexed
    range of their rows), and for today."""

    def __init__(self, rows: QuerySet) -> None:
        self.rows = rows

    def per_day_model(self) -> list[tuple[date, str, int, int, int]]:
        by_day = TruncDate("finished_at", tzinfo=timezone.get_current_timezone())
        rows = (
            self.rows.annotate(day=by_day)
            .values("day", "model")
            .annotate(n=Count("pk"), i=Sum("input_tokens"), o=Sum("output_tokens"))
        )
        return [(day_of(r["day"]), r["model"], r["n"], r["i"] or 0, r["o"] or 0) for r in rows]

    def active_users(self) -> dict[date, int]:
        by_day = TruncDate("finished_at", tzinfo=timezone.get_current_timezone())
        rows = self.rows.annotate(day=by_day).values("day").annotate(
            n=Count("user_id", distinct=True)
        )
        return {day_of(row["day"]): row["n"] for row in rows}

    def per_user_model(self) -> list[tuple[Any, str, int, int, int]]:
        return [
            (row["user_id"], row["model"], row["turns"], row["i"] or 0, row["o"] or 0)
            for row in rollup.usage_rows(self.rows)
        ]

    def latency(self) -> tuple[dict[str, dict], dict]:
        return latencies(self.rows, "model"), latencies(self.rows, None).get(None) or {}


class RolledUpUsage:
    """Usage figures for all users: finished days from the daily rollups (summed on first
    use, see chat/review/rollup.py), today from the live rows."""

    def __init__(self, filters: Filters, today: date) -> None:
        self.days = filters.days
        self.finished = [day for day in self.days if day < today]
        rollup.ensure_rolled_up(self.days, today)
        live = answers(filters)
        since, until = rollup.day_bounds(today)
        self.today = today
        self.live = live.filter(finished_at__gte=since, finished_at__lt=until)
        self.live_today = LiveUsage(self.live) if today in self.days else None

    def summed(self) -> QuerySet:
        return UsageDay.objects.filter(day__in=self.finished).order_by()

    def per_day_model(self) -> list[tuple[date, str, int, int, int]]:
        rows = self.summed().values("day", "model").annotate(
            n=Sum("turns"), i=Sum("input_tokens"), o=Sum("output_tokens")
        )
        found = [(r["day"], r["model"], r["n"], r["i"] or 0, r["o"] or 0) for r in rows]
        return found + (self.live_today.per_day_model() if self.live_today else [])

    def active_users(self) -> dict[date, int]:
        rows = self.summed().values("day").annotate(n=Count("user_id", distinct=True))
        found = {row["day"]: row["n"] for row in rows}
        return found | (self.live_today.active_users() if self.live_today else {})

    def per_user_model(self) -> list[tuple[Any, str, int, int, int]]:
        rows = self.summed().values("user_id", "model").annotate(
            n=Sum("turns"), i=Sum("input_tokens"), o=Sum("output_tokens")
        )
        found = [(r["user_id"], r["model"], r["n"], r["i"] or 0, r["o"] or 0) for r in rows]
        return found + (self.live_today.per_user_model() if self.live_today else [])

    def latency(self) -> tuple[dict[str, dict], dict]:
        found = rollup.histograms(self.days, self.today, self.live)
        models = {
            model
            for by_model in found.values()
            for model in by_model
        }

        def figures(pick) -> dict[str, float | None]:
            first = pick(found.get(LatencyDay.Metric.FIRST_TOKEN, {}))
            duration = pick(found.get(LatencyDay.Metric.DURATION, {}))
            return {
                "first_token_p50": rollup.percentile(first, 0.5),
                "first_token_p95": rollup.percentile(first, 0.95),
                "duration_p50": rollup.percentile(duration, 0.5),
                "duration_p95": rollup.percentile(duration, 0.95),
            }

        per_model = {
            model: figures(lambda by_model, model=model: by_model.get(model, {}))
            for model in models
        }
        return per_model, figures(rollup.merged)


def daily(filters: Filters, source: Any) -> list[Day]:
    days = {day: Day(day=day) for day in filters.days}
    for day, model, turns, input_tokens, output_tokens in source.per_day_model():
        if (entry := days.get(day)) is not None:
            entry.messages += turns
            entry.input_tokens += input_tokens
            entry.output_tokens += output_tokens
            entry.cost += cost(model, input_tokens, output_tokens)
    for day, count in source.active_users().items():
        if (entry := days.get(day)) is not None:
            entry.active_users = count
    by_day = TruncDate("created_at", tzinfo=timezone.get_current_timezone())
    threads = filters.rows(Thread.objects.all(), "owner_id")
    for row in threads.annotate(day=by_day).values("day").annotate(n=Count("pk")):
        if (entry := days.get(day_of(row["day"]))) is not None:
            entry.threads = row["n"]
    # A vote counts on the day of the answer it rates: a day's share of rated answers is
    # then a share of that day's answers (dated by the vote, last night's answers rated
    # this morning would make today's share more than all of today's answers).
    feedback = rated_answers(filters)
    answer_day = TruncDate("item__created_at", tzinfo=timezone.get_current_timezone())
    for row in feedback.annotate(day=answer_day).values("day", "kind").annotate(n=Count("pk")):
        if (entry := days.get(day_of(row["day"]))) is not None:
            setattr(entry, row["kind"], row["n"])
    refusals = filters.rows(LimitRefusal.objects.all())
    for row in refusals.annotate(day=by_day).values("day").annotate(n=Count("pk")):
        if (entry := days.get(day_of(row["day"]))) is not None:
            entry.refusals = row["n"]
    return list(days.values())


def by_model(source: Any, latency: dict[str, dict]) -> list[Group]:
    groups: dict[str, Group] = {}
    for _day, model, turns, input_tokens, output_tokens in source.per_day_model():
        group = groups.setdefault(model, Group(name=model or "(not recorded)"))
        group.messages += turns
        group.input_tokens += input_tokens
        group.output_tokens += output_tokens
        group.cost += cost(model, input_tokens, output_tokens)
    for model, group in groups.items():
        with_latency(group, latency.get(model))
    return sorted(groups.values(), key=lambda group: group.tokens, reverse=True)


def by_user(filters: Filters, source: Any, limit: int = TOP_USERS) -> list[Group]:
    """The `limit` users who used the most tokens; cost summed over their models, and the
    threads each started in the range."""
    groups: dict[Any, Group] = {}
    for user_id, model, turns, input_tokens, output_tokens in source.per_user_model():
        group = groups.setdefault(user_id, Group(name=""))
        group.messages += turns
        group.input_tokens += input_tokens
        group.output_tokens += output_tokens
        group.cost += cost(model, input_tokens, output_tokens)
    top = sorted(groups.items(), key=lambda pair: pair[1].tokens, reverse=True)[:limit]
    user_model = get_user_model()
    names = dict(
        user_model._default_manager.filter(pk__in=[user_id for user_id, _ in top])
        .values_list("pk", user_model.USERNAME_FIELD)
    )
    started = dict(
        filters.rows(Thread.objects.filter(owner_id__in=names), "owner_id")
        .order_by()
        .values_list("owner_id")
        .annotate(n=Count("pk"))
    )
    for user_id, group in top:
        group.name = names.get(user_id, str(user_id))
        group.threads = started.get(user_id, 0)
    return [group for _, group in top]


def insights(filters: Filters, today: date | None = None) -> Insights:
    """Everything the insights page shows for these filters."""
    today = today or timezone.localdate()
    if filters.user_id is None:
        source: Any = RolledUpUsage(filters, today)
    else:
        source = LiveUsage(answers(filters))
    per_model, overall = source.latency()
    models = by_model(source, per_model)
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
        rated_answers(filters)
        .order_by()
        .values_list("review_status")
        .annotate(n=Count("pk"))
    )
    reviews = {label: statuses.get(value, 0) for value, label in Feedback.ReviewStatus.choices}
    return Insights(
        filters=filters,
        days=daily(filters, source),
        models=models,
        users=by_user(filters, source),
        latency=with_latency(Group(name="all models"), overall),
        refusals=refusals,
        unpriced=[group.name for group in models if group.name not in priced],
        reviews=reviews,
    )


CSV_COLUMNS = [
    "day", "messages", "active_users", "threads", "input_tokens", "output_tokens",
    "estimated_cost_usd", "feedback_positive", "feedback_negative", "feedback_rate",
    "refusals",
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
            row.negative, "" if row.feedback_rate is None else f"{row.feedback_rate:.3f}",
            row.refusals,
        ])
    return buffer.getvalue()
