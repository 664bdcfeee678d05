"""`manage.py rollup_usage`: sum finished days of usage for the insights page ahead of time.

The insights page sums any finished day it needs on first use; with a long history that
first view is slow (seconds per month of busy days). Running this once a day (after
midnight, in cron or a timer) keeps every view fast. Days already summed are skipped.
"""

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from chat.management.base import ChatCommand
from chat.review.rollup import ensure_rolled_up


class Command(ChatCommand):
    help = "Sum finished days of token usage into the insights page's daily rollups."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=90,
            metavar="N",
            help="how many finished days back to sum (default 90, at most 366)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = max(1, min(options["days"], 366))
        today = timezone.localdate()
        days = [today - timedelta(days=n) for n in range(count, 0, -1)]
        with self.one_run_at_a_time("rollup_usage"):
            summed = ensure_rolled_up(days, today)
        self.summary(f"Days summed: {summed} (of the last {count} finished days).")
