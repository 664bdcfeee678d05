"""Daily rollups of per-turn usage, so the insights page reads a few rows per day rather
than every answer.

A finished day never changes: an answer is dated when its usage is written (`finished_at`). So
the first time the insights page needs finished days, their answers (`Turn` rows) are summed
per day, model and user (`UsageDay`) and their latencies counted into histogram buckets
per day and model (`LatencyDay`), and the days are marked done (`RolledUpDay`, with the
time zone their bounds were taken in: a changed TIME_ZONE sums the days again). All the
days missing from a range are summed together, with one grouped query per figure over
their whole span: a query per day cost 89 index range scans and 89 round trips for a
quarter. Today is always read live, with the same grouped queries. Percentiles are then
read from the summed histograms (interpolated within a bucket).
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, IntegerField, QuerySet, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from chat.models import LatencyDay, RolledUpDay, Turn, UsageDay

# Lower bounds of the latency buckets, in milliseconds (the last one is open-ended).
BUCKETS = [
    0, 50, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1250, 1500, 2000, 2500, 3000,
    4000, 5000, 6000, 8000, 10_000, 12_500, 15_000, 20_000, 25_000, 30_000, 45_000, 60_000,
    90_000, 120_000, 180_000, 300_000,
]
METRICS = {
    LatencyDay.Metric.FIRST_TOKEN: "first_token_ms",
    LatencyDay.Metric.DURATION: "duration_ms",
}

Histogram = dict[int, int]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(day, time.min, tzinfo=tz),
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz),
    )


def bucket_of(column: str) -> Case:
    """The bucket (its lower bound) a value falls in, as SQL."""
    return Case(
        *(When(**{f"{column}__lt": upper}, then=Value(lower))
          for lower, upper in zip(BUCKETS, BUCKETS[1:], strict=False)),
        default=Value(BUCKETS[-1]),
        output_field=IntegerField(),
    )


def usage_rows(rows: QuerySet, *by: str) -> list[dict[str, Any]]:
    """Answers and tokens per model and user (and per `by`, such as "day")."""
    return list(
        rows.order_by()
        .values(*by, "model", "user_id")
        .annotate(turns=Count("pk"), i=Sum("input_tokens"), o=Sum("output_tokens"))
    )


def latency_rows(rows: QuerySet, *by: str) -> list[tuple[Any, ...]]:
    """(metric, model, bucket, count) for every non-empty bucket, each prefixed with the
    values of `by` (such as the day)."""
    found = []
    for metric, column in METRICS.items():
        counted = (
            rows.filter(**{f"{column}__isnull": False})
            .order_by()
            .annotate(bucket=bucket_of(column))
            .values(*by, "model", "bucket")
            .annotate(n=Count("pk"))
        )
        found += [
            (*(row[name] for name in by), metric, row["model"], row["bucket"], row["n"])
            for row in counted
        ]
    return found


def roll_up(days: list[date]) -> None:
    """Sum finished `days` into UsageDay and LatencyDay, replacing what was there: grouped
    by day over the span from the first to the last (days in between that are not asked
    for are left as they are)."""
    wanted = set(days)
    since, until = day_bounds(min(days))[0], day_bounds(max(days))[1]
    rows = Turn.objects.answers().filter(finished_at__gte=since, finished_at__lt=until).annotate(
        day=TruncDate("finished_at", tzinfo=timezone.get_current_timezone())
    )
    usage = [row for row in usage_rows(rows, "day") if row["day"] in wanted]
    latency = [row for row in latency_rows(rows, "day") if row[0] in wanted]
    time_zone = timezone.get_current_timezone_name()
    try:
        with transaction.atomic():
            UsageDay.objects.filter(day__in=wanted).delete()
            LatencyDay.objects.filter(day__in=wanted).delete()
            UsageDay.objects.bulk_create(
                (UsageDay(day=row["day"], model=row["model"], user_id=row["user_id"],
                          turns=row["turns"], input_tokens=row["i"] or 0,
                          output_tokens=row["o"] or 0) for row in usage),
                batch_size=1000,
            )
            LatencyDay.objects.bulk_create(
                (LatencyDay(day=day, metric=metric, model=model, bucket=bucket, count=n)
                 for day, metric, model, bucket, n in latency),
                batch_size=1000,
            )
            RolledUpDay.objects.bulk_create(
                [RolledUpDay(day=day, time_zone=time_zone) for day in sorted(wanted)],
                update_conflicts=True,
                unique_fields=["day"],
                update_fields=["time_zone", "rolled_up_at"],
            )
    except IntegrityError:
        # Another request summed some of the same days at the same moment: theirs stand.
        # Any day it did not sum is left for the next view.
        pass


def ensure_rolled_up(days: list[date], today: date) -> int:
    """Sum every finished day of `days` not yet summed in the current time zone; returns
    how many were summed."""
    finished = [day for day in days if day < today]
    if not finished:
        return 0
    done = set(
        RolledUpDay.objects.filter(
            day__in=finished, time_zone=timezone.get_current_timezone_name()
        ).values_list("day", flat=True)
    )
    missing = [day for day in finished if day not in done]
    if missing:
        roll_up(missing)
    return len(missing)


def percentile(histogram: Histogram, fraction: float) -> float | None:
    """The value below which `fraction` of the counted answers fall, interpolated
    linearly within its bucket (the open last bucket gives its lower bound)."""
    total = sum(histogram.values())
    if not total:
        return None
    target = fraction * total
    seen = 0
    for index, lower in enumerate(BUCKETS):
        count = histogram.get(lower, 0)
        if count and seen + count >= target:
            if index + 1 == len(BUCKETS):
                return float(lower)
            upper = BUCKETS[index + 1]
            return lower + (upper - lower) * (target - seen) / count
        seen += count
    return float(BUCKETS[-1])


def histograms(
    days: list[date], today: date, live: QuerySet
) -> dict[str, dict[str, Histogram]]:
    """metric -> model -> histogram over the days: summed rows, plus today's live rows."""
    found: dict[str, dict[str, Histogram]] = defaultdict(lambda: defaultdict(dict))

    def add(metric: str, model: str, bucket: int, count: int) -> None:
        found[metric][model][bucket] = found[metric][model].get(bucket, 0) + count

    rows = (
        LatencyDay.objects.filter(day__in=[day for day in days if day < today])
        .order_by()
        .values("metric", "model", "bucket")
        .annotate(n=Sum("count"))
    )
    for row in rows:
        add(row["metric"], row["model"], row["bucket"], row["n"])
    if today in days:
        for metric, model, bucket, count in latency_rows(live):
            add(metric, model, bucket, count)
    return found


def merged(histograms_by_model: dict[str, Histogram]) -> Histogram:
    total: Histogram = {}
    for histogram in histograms_by_model.values():
        for bucket, count in histogram.items():
            total[bucket] = total.get(bucket, 0) + count
    return total
