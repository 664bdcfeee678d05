"""`manage.py purge_threads`: delete old conversations and abandoned uploads.

A dry run unless `--yes` is given. The work itself is in chat.retention.purge; this command
parses and checks arguments, takes the one-run-at-a-time lock and reports.
"""

import argparse
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from chat.conf import InvalidSetting, app_settings
from chat.management.base import ChatCommand, usage_error
from chat.retention import purge as retention


def duration(text: str) -> timedelta:
    try:
        return retention.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def day(text: str) -> datetime:
    try:
        return retention.parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def batch_size(text: str) -> int:
    try:
        return retention.parse_batch_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(ChatCommand):
    help = (
        "Delete threads (with their items, feedback, attachments and files) selected by age, "
        "inactivity or owner, and uploads never attached to a message older than a day. "
        "Dry run unless --yes is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=duration,
            metavar="AGE",
            help="threads created more than AGE ago, e.g. 30d, 12h, 2w",
        )
        parser.add_argument(
            "--inactive-for",
            type=duration,
            metavar="AGE",
            help="threads with no activity for AGE, e.g. 90d",
        )
        parser.add_argument(
            "--before",
            type=day,
            metavar="DATE",
            help="threads with no activity since DATE (YYYY-MM-DD, midnight, TIME_ZONE)",
        )
        parser.add_argument("--user", metavar="USERNAME", help="threads owned by this user")
        parser.add_argument(
            "--retention",
            action="store_true",
            help="threads with no activity for CHAT_RETENTION_DAYS days",
        )
        parser.add_argument(
            "--batch-size",
            type=batch_size,
            default=retention.DEFAULT_BATCH_SIZE,
            help=f"threads per transaction (default {retention.DEFAULT_BATCH_SIZE}, "
            f"at most {retention.MAX_BATCH_SIZE})",
        )
        parser.add_argument(
            "--sample",
            type=int,
            default=10,
            metavar="N",
            help="a dry run lists the N threads idle the longest (default 10, 0: none)",
        )
        parser.add_argument(
            "--yes", action="store_true", help="really delete (default: only report)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        selection = self.selection(options, now)
        dry_run = not options["yes"]
        counts = retention.PurgeCounts()
        if dry_run:
            self.stdout.write("Dry run: nothing is deleted. Add --yes to delete.")
            self.list_sample(selection, options["sample"])
        try:
            with self.one_run_at_a_time("purge_threads"):
                retention.purge(
                    selection,
                    batch_size=options["batch_size"],
                    dry_run=dry_run,
                    counts=counts,
                    progress=self.progress if options["verbosity"] >= 2 else None,
                    now=now,
                )
        except DatabaseError as exc:
            done = retention.summary(counts, dry_run)
            raise CommandError(f"Purge failed: {exc}. Before the failure: {done}") from exc
        self.summary(retention.summary(counts, dry_run))
        if counts.file_errors:
            raise CommandError(
                f"{counts.file_errors} stored file(s) could not be deleted (their rows are "
                "gone); see the log."
            )

    def selection(self, options: dict[str, Any], now: Any) -> retention.Selection:
        """The threads the options select; a usage error when the options make no sense."""
        inactive = [now - options["inactive_for"]] if options["inactive_for"] else []
        if options["retention"]:
            inactive.append(now - self.retention_period())
        if options["before"]:
            inactive.append(options["before"])
        selection = retention.Selection(
            created_before=now - options["older_than"] if options["older_than"] else None,
            inactive_since=min(inactive) if inactive else None,
            owner_id=self.user_named(options["user"]).pk if options["user"] is not None else None,
        )
        if selection.empty:
            raise usage_error(
                "Nothing selected: give --older-than, --inactive-for, --before, --user or "
                "--retention."
            )
        return selection

    @staticmethod
    def retention_period() -> timedelta:
        needs = "--retention needs CHAT_RETENTION_DAYS to be a number of days above 0"
        try:
            days = app_settings.RETENTION_DAYS
        except InvalidSetting as problem:  # only when the system checks were skipped
            raise usage_error(f"{needs}: {problem.message}") from None
        if not days:
            raise usage_error(f"{needs} (it is 0: retention is off).")
        return timedelta(days=days)

    def list_sample(self, selection: retention.Selection, limit: int) -> None:
        """The threads idle the longest among those selected: what an operator checks
        before adding --yes."""
        if limit <= 0:
            return
        rows = retention.sample(selection, limit)
        if not rows:
            self.stdout.write("No threads selected.")
            return
        self.stdout.write(f"Threads idle the longest (up to {limit}):")
        self.stdout.write(f"  {'id':<40} {'owner':<20} {'last activity':<20} items")
        for row in rows:
            activity = timezone.localtime(row.last_activity).strftime("%Y-%m-%d %H:%M")
            self.stdout.write(f"  {row.id:<40} {row.owner:<20} {activity:<20} {row.items}")

    def progress(self, counts: retention.PurgeCounts) -> None:
        self.stdout.write(
            f"  batch {counts.batches}: {retention.plural(counts.threads, 'thread')}, "
            f"{retention.plural(counts.attachments, 'attachment')} so far"
        )
