"""Selecting and deleting threads and stale uploads: the service behind `purge_threads`
and the admin's delete.

Deletion works in batches of thread ids, each in its own transaction, so memory stays flat
and a failure loses at most one batch's work. Inside a batch, dependents are removed
explicitly with one statement each (Django's delete collector would load every item of
the batch into memory first), and stored files are deleted only after the batch commits:
a crash can leave an orphaned file, never a row whose file is gone.

`chat.management.locks.exclusive()` keeps two purges from running at once. An answer still
running in a thread about to go is stopped first, wherever it runs (`stop_answers`).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from chat.attachments.files import remove_files
from chat.chatkit.turns import stop_turn
from chat.models import Attachment, Thread, ThreadItem, Turn

DEFAULT_BATCH_SIZE = 500
# Ids of one batch are bound as query parameters: keep well under SQLite's 32766.
MAX_BATCH_SIZE = 10_000
# Uploads that never made it into a message are garbage after this long.
STALE_UPLOAD_AGE = timedelta(days=1)

DURATION_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
DURATION_PATTERN = re.compile(r"\s*(\d+)\s*([A-Za-z]*)\s*")


# --- arguments ------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `2w` as a timedelta; ValueError naming what is wrong otherwise."""
    match = DURATION_PATTERN.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration: use a whole number and a unit, like 30d")
    amount, unit = int(match[1]), match[2].lower()
    if not unit:
        raise ValueError(f"'{text}' has no unit: add h (hours), d (days) or w (weeks)")
    if unit not in DURATION_UNITS:
        raise ValueError(
            f"unknown duration unit '{match[2]}' in '{text}': use h (hours), d (days) or w (weeks)"
        )
    if amount == 0:
        raise ValueError(f"'{text}' is zero: give a duration above zero")
    try:
        return timedelta(**{DURATION_UNITS[unit]: amount})
    except OverflowError:
        raise ValueError(f"'{text}' is too long a duration") from None


def parse_date(text: str, tz: tzinfo | None = None) -> datetime:
    """`2026-01-31` as midnight at the start of that day in the site's time zone;
    ValueError naming what is wrong otherwise."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"'{text}' is not a date: use YYYY-MM-DD, like 2026-01-31") from None
    return datetime.combine(day, time.min, tzinfo=tz or timezone.get_current_timezone())


def parse_batch_size(text: str) -> int:
    """A batch size between 1 and MAX_BATCH_SIZE; ValueError naming what is wrong otherwise."""
    try:
        size = int(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a whole number") from None
    if size < 1:
        raise ValueError(f"{size} is not a batch size: give a number above zero")
    if size > MAX_BATCH_SIZE:
        raise ValueError(f"{size} is too large: at most {MAX_BATCH_SIZE} rows per batch")
    return size


# --- selection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which threads to purge; every given condition must hold (they combine with AND)."""

    created_before: datetime | None = None
    inactive_since: datetime | None = None
    owner_id: int | None = None

    @property
    def empty(self) -> bool:
        return self.created_before is None and self.inactive_since is None and not self.owner_id

    def threads(self) -> QuerySet[Thread]:
        rows = Thread.objects.all()
        if self.created_before is not None:
            rows = rows.filter(created_at__lt=self.created_before)
        if self.inactive_since is not None:
            rows = rows.filter(updated_at__lt=self.inactive_since)
        if self.owner_id:
            rows = rows.filter(owner_id=self.owner_id)
        return rows

    def stale_uploads(self, now: datetime) -> QuerySet[Attachment]:
        """Uploads never attached to a message and older than a day (the user's only, when
        the selection names a user)."""
        rows = Attachment.objects.filter(thread__isnull=True, created_at__lt=now - STALE_UPLOAD_AGE)
        if self.owner_id:
            rows = rows.filter(owner_id=self.owner_id)
        return rows


# --- counting and deleting --------------------------------------------------------------------


@dataclass
class PurgeCounts:
    threads: int = 0
    items: int = 0
    attachments: int = 0
    bytes: int = 0
    # Of `attachments`: uploads that were never part of a message.
    unattached: int = 0
    # Stored files that could not be removed after their rows were deleted.
    file_errors: int = 0
    batches: int = 0

    def add(self, other: "PurgeCounts") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return plural(size, "byte") if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary(counts: PurgeCounts, dry_run: bool = False) -> str:
    """`Threads: 12, items: 340, attachments: 5 (1.2 MB), uploads never sent: 0.`

    The same line for a dry run and a real one (the output's first line says which it
    is), so an operator can compare the two, and a script can read either.
    """
    return (
        f"Threads: {counts.threads}, items: {counts.items}, "
        f"attachments: {counts.attachments} ({human_bytes(counts.bytes)}), "
        f"uploads never sent: {counts.unattached}."
    )


@dataclass(frozen=True)
class SampleRow:
    """One thread a purge selects, as the dry run lists it."""

    id: str
    owner: str
    last_activity: datetime
    items: int


def sample(selection: Selection, limit: int = 10) -> list[SampleRow]:
    """The `limit` selected threads idle the longest, with owner and item count: one
    query, whatever the selection's size."""
    user_field = get_user_model().USERNAME_FIELD
    items = (
        ThreadItem.objects.filter(thread=OuterRef("pk"))
        .order_by()
        .values("thread")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = (
        selection.threads()
        .order_by("updated_at", "pk")
        .annotate(item_count=Coalesce(Subquery(items, output_field=IntegerField()), 0))
        .values_list("pk", f"owner__{user_field}", "updated_at", "item_count")[:limit]
    )
    return [SampleRow(*row) for row in rows]


def remove_files_on_commit(names: list[str], counts: PurgeCounts, using: str) -> None:
    """Remove the files once the rows' transaction commits (never if it rolls back)."""

    def remove() -> None:
        counts.file_errors += remove_files(names)

    transaction.on_commit(remove, using=using)


def count_threads(ids: list[str]) -> tuple[PurgeCounts, list[str]]:
    """What deleting these threads would remove: two queries, nothing loaded."""
    attachments = Attachment.objects.filter(thread_id__in=ids).aggregate(
        n=Count("pk"), size=Sum("size")
    )
    counts = PurgeCounts(
        threads=len(ids),
        items=ThreadItem.objects.filter(thread_id__in=ids).count(),
        attachments=attachments["n"],
        bytes=attachments["size"] or 0,
    )
    return counts, []


def delete_threads_now(ids: list[str]) -> tuple[PurgeCounts, list[str]]:
    """Delete the threads and everything hanging off them, a statement or two per table
    (see `ThreadQuerySet.delete_with_dependents`); returns the counts and the stored files
    to remove once this commits."""
    files = list(Attachment.objects.filter(thread_id__in=ids).values_list("file", "size"))
    threads, items = Thread.objects.filter(pk__in=ids).delete_with_dependents()
    counts = PurgeCounts(
        threads=threads,
        items=items,
        attachments=len(files),
        bytes=sum(size for _, size in files),
    )
    return counts, [name for name, _ in files]


def count_uploads(ids: list[str]) -> tuple[PurgeCounts, list[str]]:
    totals = Attachment.objects.filter(pk__in=ids).aggregate(n=Count("pk"), size=Sum("size"))
    counts = PurgeCounts(attachments=totals["n"], unattached=totals["n"], bytes=totals["size"] or 0)
    return counts, []


def delete_uploads_now(ids: list[str]) -> tuple[PurgeCounts, list[str]]:
    files = list(Attachment.objects.filter(pk__in=ids).values_list("file", "size"))
    deleted, _ = Attachment.objects.filter(pk__in=ids).delete()
    counts = PurgeCounts(
        attachments=deleted, unattached=deleted, bytes=sum(size for _, size in files)
    )
    return counts, [name for name, _ in files]


Handler = Callable[[list[str]], tuple[PurgeCounts, list[str]]]


def next_ids(rows: QuerySet, after: str | None, batch_size: int, lock: bool) -> list[str]:
    """The next `batch_size` primary keys after `after`: keyset paging, so neither memory
    nor the cost of a batch grows with the table. `lock` keeps concurrent writers off the
    rows until the batch's transaction ends (PostgreSQL; SQLite serialises writers anyway)."""
    page = rows.order_by("pk")
    if after is not None:
        page = page.filter(pk__gt=after)
    if lock:
        page = page.select_for_update()
    return list(page.values_list("pk", flat=True)[:batch_size])


def run_batches(
    rows: QuerySet,
    handle: Handler,
    *,
    batch_size: int,
    lock: bool,
    counts: PurgeCounts,
    progress: Callable[[PurgeCounts], None] | None = None,
) -> None:
    """Apply `handle` to each batch of ids in its own transaction. Files go once the batch
    has committed, and `counts` grows only by what committed."""
    after = None
    database = router.db_for_write(rows.model)
    while True:
        with transaction.atomic(using=database):
            ids = next_ids(rows, after, batch_size, lock)
            if not ids:
                return
            batch, files = handle(ids)
            if any(files):
                remove_files_on_commit(files, counts, database)
        batch.batches = 1
        counts.add(batch)
        if progress:
            progress(counts)
        if len(ids) < batch_size:
            return
        after = ids[-1]


def stop_answers(threads: QuerySet[Thread]) -> None:
    """Stop the answers still running in `threads`, on whichever worker runs them, and wait
    until each has stored what it has: deleted under it, an answer would run on (and pay
    the model) with nowhere left to store its words. Each keeps what it used on its turn.
    Call it outside a transaction: a stopping answer writes."""
    running = Turn.objects.filter(thread__in=threads, state=Turn.State.RUNNING)
    for thread_id in running.values_list("thread_id", flat=True):
        async_to_sync(stop_turn)(thread_id)


def purge(
    selection: Selection,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = True,
    counts: PurgeCounts | None = None,
    progress: Callable[[PurgeCounts], None] | None = None,
    now: datetime | None = None,
) -> PurgeCounts:
    """Delete (or, in a dry run, count) the selected threads, then the stale uploads.

    `counts` is filled in as batches commit, so a caller that catches a failure can still
    say what was already deleted.
    """
    counts = PurgeCounts() if counts is None else counts
    now = now or timezone.now()
    if not dry_run:
        stop_answers(selection.threads())
    for rows, count, delete in (
        (selection.threads(), count_threads, delete_threads_now),
        (selection.stale_uploads(now), count_uploads, delete_uploads_now),
    ):
        run_batches(
            rows,
            count if dry_run else delete,
            batch_size=batch_size,
            lock=not dry_run,
            counts=counts,
            progress=progress,
        )
    return counts


def delete_threads(threads: QuerySet[Thread], batch_size: int = DEFAULT_BATCH_SIZE) -> PurgeCounts:
    """Delete the given threads with their items, feedback, attachments and files (the
    files once the surrounding transaction commits). Used by the admin, which stops their
    answers first (`stop_answers`), before its own transaction."""
    counts = PurgeCounts()
    rows = Thread.objects.filter(pk__in=threads.values("pk"))
    run_batches(rows, delete_threads_now, batch_size=batch_size, lock=True, counts=counts)
    return counts


def preview_delete(threads: QuerySet[Thread]) -> PurgeCounts:
    """What `delete_threads` would remove, counted without loading rows."""
    counts = PurgeCounts()
    rows = Thread.objects.filter(pk__in=threads.values("pk"))
    run_batches(rows, count_threads, batch_size=MAX_BATCH_SIZE, lock=False, counts=counts)
    return counts
