"""`manage.py purge_threads` and chat.retention.purge: what is selected, that a dry run changes
nothing, that `--yes` removes exactly the selected threads with their items, feedback,
attachments and stored files, batching with a bounded number of queries, one run at a
time, failures, and every bad argument."""

import io
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import models
from chat.management import locks
from chat.retention import purge as retention
from tests import factories

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def make_thread(
    owner,
    thread_id: str,
    age: timedelta,
    idle: timedelta | None = None,
    items: int = 2,
    files: int = 1,
) -> models.Thread:
    """A thread created `age` ago, last active `idle` ago, with items, feedback on its
    first item, `files` stored attachments and a token-usage record."""
    now = timezone.now()
    thread = models.Thread.objects.create(
        id=thread_id,
        owner=owner,
        title=thread_id,
        created_at=now - age,
        updated_at=now - (age if idle is None else idle),
    )
    rows = models.ThreadItem.objects.bulk_create(
        models.ThreadItem(
            thread=thread,
            item_id=f"{thread_id}_item{n}",
            type="user_message",
            created_at=now - age,
            data={"type": "user_message"},
            text=f"text {n}",
        )
        for n in range(items)
    )
    if rows:
        models.Feedback.objects.create(item=rows[0], user=owner, kind="negative")
    for n in range(files):
        add_upload(owner, f"{thread_id}_file{n}", thread=thread, size=100)
    factories.answer(owner, thread, tokens=(5, 7))
    return thread


def add_upload(owner, attachment_id, thread=None, size=100, age=timedelta(0)):
    row = factories.add_upload(owner, attachment_id, thread=thread, content=b"x" * size)
    if age:
        # created_at is auto_now_add: backdate it with an update.
        models.Attachment.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)
    return row


def stored(name: str) -> bool:
    return default_storage.exists(name)


def purge(*args: str) -> str:
    out = io.StringIO()
    call_command("purge_threads", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def snapshot() -> dict[str, int]:
    return {
        "threads": models.Thread.objects.count(),
        "items": models.ThreadItem.objects.count(),
        "feedback": models.Feedback.objects.count(),
        "attachments": models.Attachment.objects.count(),
        "usage": models.Turn.objects.answers().count(),
    }


@pytest.fixture
def threads(alice, bob):
    """Old and recent threads of two users."""
    return {
        "alice_old": make_thread(alice, "alice_old", 40 * DAY),
        "alice_new": make_thread(alice, "alice_new", 2 * DAY),
        "bob_old": make_thread(bob, "bob_old", 50 * DAY, items=3, files=2),
        "bob_new": make_thread(bob, "bob_new", 1 * DAY),
    }


# --- dry run and deletion ---------------------------------------------------------------------


def test_dry_run_changes_nothing_and_says_what_would_go(
    threads, django_capture_on_commit_callbacks
):
    before = snapshot()
    files = list(models.Attachment.objects.values_list("file", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        out = purge("--older-than", "30d")

    assert snapshot() == before
    assert all(stored(name) for name in files)
    assert "Dry run: nothing is deleted" in out
    assert out.strip().endswith(
        "Threads: 2, items: 5, attachments: 3 (300 bytes), uploads never sent: 0."
    )


@pytest.mark.django_db(transaction=True)
def test_yes_deletes_exactly_the_selected_threads_and_everything_theirs(threads):
    """Run as in production: each batch really commits, then its files go."""
    kept_files = list(
        models.Attachment.objects.filter(thread__in=["alice_new", "bob_new"]).values_list(
            "file", flat=True
        )
    )
    gone_files = list(
        models.Attachment.objects.filter(thread__in=["alice_old", "bob_old"]).values_list(
            "file", flat=True
        )
    )

    out = purge("--older-than", "30d", "--yes")

    assert out.strip() == "Threads: 2, items: 5, attachments: 3 (300 bytes), uploads never sent: 0."
    assert set(models.Thread.objects.values_list("pk", flat=True)) == {"alice_new", "bob_new"}
    assert set(models.ThreadItem.objects.values_list("thread_id", flat=True)) == {
        "alice_new",
        "bob_new",
    }
    assert set(models.Feedback.objects.values_list("item__thread_id", flat=True)) == {
        "alice_new",
        "bob_new",
    }
    assert set(models.Attachment.objects.values_list("thread_id", flat=True)) == {
        "alice_new",
        "bob_new",
    }
    assert not any(stored(name) for name in gone_files)
    assert all(stored(name) for name in kept_files)
    # Token usage stays for accounting, no longer tied to the deleted threads.
    assert models.Turn.objects.answers().count() == 4
    assert models.Turn.objects.answers().filter(thread__isnull=True).count() == 2


def test_stored_files_go_only_after_the_rows_commit(threads, django_capture_on_commit_callbacks):
    names = list(models.Attachment.objects.filter(thread="bob_old").values_list("file", flat=True))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        purge("--user", "bob", "--older-than", "30d", "--yes")

    assert not models.Attachment.objects.filter(thread="bob_old").exists()
    assert all(stored(name) for name in names), "files must outlive an uncommitted transaction"
    for callback in callbacks:
        callback()
    assert not any(stored(name) for name in names)


def test_inactive_for_selects_by_last_activity(alice, django_capture_on_commit_callbacks):
    make_thread(alice, "old_but_busy", 100 * DAY, idle=1 * DAY)
    make_thread(alice, "old_and_idle", 100 * DAY, idle=20 * DAY)

    with django_capture_on_commit_callbacks(execute=True):
        out = purge("--inactive-for", "2w", "--yes")

    assert "Threads: 1," in out
    assert list(models.Thread.objects.values_list("pk", flat=True)) == ["old_but_busy"]


def test_user_selects_only_that_users_threads(threads, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        out = purge("--user", "alice", "--yes")

    assert out.startswith("Threads: 2, items: 4, attachments: 2")
    assert set(models.Thread.objects.values_list("pk", flat=True)) == {"bob_old", "bob_new"}
    assert models.ThreadItem.objects.filter(thread__owner__username="bob").count() == 5


def test_selectors_combine_with_and(threads, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        purge("--user", "bob", "--older-than", "30d", "--yes")

    assert set(models.Thread.objects.values_list("pk", flat=True)) == {
        "alice_old",
        "alice_new",
        "bob_new",
    }


def test_retention_uses_chat_retention_days(alice, settings, django_capture_on_commit_callbacks):
    settings.CHAT_RETENTION_DAYS = 10
    make_thread(alice, "idle_11_days", 30 * DAY, idle=11 * DAY)
    make_thread(alice, "idle_9_days", 30 * DAY, idle=9 * DAY)

    with django_capture_on_commit_callbacks(execute=True):
        purge("--retention", "--yes")

    assert list(models.Thread.objects.values_list("pk", flat=True)) == ["idle_9_days"]


def test_uploads_never_sent_are_removed_after_a_day(alice, bob, django_capture_on_commit_callbacks):
    stale = add_upload(alice, "stale", size=1000, age=2 * DAY)
    fresh = add_upload(alice, "fresh", size=1000, age=timedelta(hours=1))
    bobs_stale = add_upload(bob, "bobs_stale", size=10, age=3 * DAY)
    sent = make_thread(alice, "recent", 1 * DAY, files=1)

    with django_capture_on_commit_callbacks(execute=True):
        out = purge("--user", "alice", "--older-than", "30d", "--yes")

    assert out.strip() == (
        "Threads: 0, items: 0, attachments: 1 (1000 bytes), uploads never sent: 1."
    )
    assert set(models.Attachment.objects.values_list("pk", flat=True)) == {
        "fresh",
        "bobs_stale",
        "recent_file0",
    }
    assert not stored(stale.file.name)
    assert stored(fresh.file.name) and stored(bobs_stale.file.name)
    assert models.Thread.objects.filter(pk=sent.pk).exists()

    # Without --user, everyone's stale uploads go.
    with django_capture_on_commit_callbacks(execute=True):
        purge("--older-than", "30d", "--yes")
    assert not models.Attachment.objects.filter(pk="bobs_stale").exists()


# --- batches --------------------------------------------------------------------------------


def count_queries(*args: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        purge(*args)
    return len(queries.captured_queries)


# Queries one batch may take, whatever its size: the ids, the attachments' files, feedback,
# items, the threads with the collector's cascade (attachments, token usage), savepoints.
# Measured at 11.
QUERIES_PER_BATCH = 12


def test_more_rows_than_a_batch_are_all_purged_with_bounded_queries(
    alice, django_capture_on_commit_callbacks
):
    for n in range(7):
        make_thread(alice, f"t{n}", 40 * DAY, items=3, files=1)
    make_thread(alice, "keep", 1 * DAY)

    with django_capture_on_commit_callbacks(execute=True):
        with CaptureQueriesContext(connection) as queries:
            out = purge("--older-than", "30d", "--yes", "--batch-size", "3")

    assert out.strip() == (
        "Threads: 7, items: 21, attachments: 7 (700 bytes), uploads never sent: 0."
    )
    assert list(models.Thread.objects.values_list("pk", flat=True)) == ["keep"]
    thread_batches, upload_batches = 3, 1  # 3 + 3 + 1 threads; one (empty) upload lookup
    assert len(queries.captured_queries) <= (thread_batches + upload_batches) * QUERIES_PER_BATCH


def test_queries_per_batch_do_not_grow_with_the_rows_in_it(alice, bob):
    """The same number of batches costs the same queries with 1 item per thread or 30."""
    for n in range(4):
        make_thread(alice, f"small{n}", 40 * DAY, items=1, files=1)
        make_thread(bob, f"large{n}", 40 * DAY, items=30, files=3)

    small = count_queries("--user", "alice", "--yes", "--batch-size", "2")
    large = count_queries("--user", "bob", "--yes", "--batch-size", "2")

    assert not models.Thread.objects.exists()
    assert small == large
    assert small <= 3 * QUERIES_PER_BATCH


def test_dry_run_batches_count_the_same_as_a_real_run(threads):
    dry = purge("--older-than", "30d", "--batch-size", "1").splitlines()[-1]
    real = purge("--older-than", "30d", "--batch-size", "1", "--yes").splitlines()[-1]
    assert dry == real


def test_dry_run_lists_a_sample_of_the_threads_with_owner_activity_and_items(threads):
    out = purge("--older-than", "30d")
    lines = out.splitlines()
    start = lines.index("Threads idle the longest (up to 10):")
    listed = [line.split() for line in lines[start + 2 : -1]]
    # Idle the longest first: bob_old (50 days) before alice_old (40 days).
    assert [row[0] for row in listed] == ["bob_old", "alice_old"]
    assert listed[0][1] == "bob" and listed[0][-1] == "3"
    assert listed[1][1] == "alice" and listed[1][-1] == "2"
    last_activity = timezone.localtime(threads["bob_old"].updated_at).strftime("%Y-%m-%d")
    assert listed[0][2] == last_activity
    assert lines[-1] == "Threads: 2, items: 5, attachments: 3 (300 bytes), uploads never sent: 0."


def test_the_sample_is_bounded_and_a_real_run_lists_nothing(threads):
    out = purge("--older-than", "1h", "--sample", "1")
    assert "Threads idle the longest (up to 1):" in out
    assert "bob_old" in out and "alice_old" not in out
    summary_line = "Threads: 4, items: 9, attachments: 5 (500 bytes), uploads never sent: 0."
    assert out.strip().endswith(summary_line)
    real = purge("--older-than", "1h", "--yes")
    assert real.strip() == summary_line


def test_before_a_date_selects_by_last_activity(threads, django_capture_on_commit_callbacks):
    cutoff = (timezone.localtime() - 10 * DAY).date().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        out = purge("--before", cutoff, "--yes")
    assert out.strip().startswith("Threads: 2,")
    assert set(models.Thread.objects.values_list("pk", flat=True)) == {"alice_new", "bob_new"}


# --- one run at a time -----------------------------------------------------------------------


class HeldLock:
    """Holds the purge lock from another thread (its own database connection, its own
    open file), as a second process would."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        try:
            with locks.exclusive("purge_threads"):
                self.held.set()
                self.release.wait(30)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
            self.held.set()
        finally:
            connections.close_all()

    def __enter__(self) -> "HeldLock":
        self.thread.start()
        assert self.held.wait(30)
        assert not self.errors
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(30)


def test_a_second_concurrent_run_refuses_to_start(threads, django_capture_on_commit_callbacks):
    with HeldLock():
        with pytest.raises(CommandError, match="another purge_threads run is in progress"):
            purge("--older-than", "30d", "--yes")
        assert models.Thread.objects.count() == 4

    # Once the other run is over, a run goes ahead.
    with django_capture_on_commit_callbacks(execute=True):
        assert "Threads: 2," in purge("--older-than", "30d", "--yes")


def test_the_lock_is_released_after_a_failed_run(threads, monkeypatch):
    def broken(ids):
        raise DatabaseError("connection reset")

    monkeypatch.setattr(retention, "delete_threads_now", broken)
    with pytest.raises(CommandError, match="Purge failed: connection reset"):
        purge("--older-than", "30d", "--yes")
    monkeypatch.undo()

    with locks.exclusive("purge_threads"):
        pass


def test_a_failure_midway_says_what_was_already_deleted(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    for n in range(3):
        make_thread(alice, f"t{n}", 40 * DAY, items=1, files=0)
    real = retention.delete_threads_now
    calls = []

    def fail_second_batch(ids):
        calls.append(ids)
        if len(calls) == 2:
            raise DatabaseError("disk full")
        return real(ids)

    monkeypatch.setattr(retention, "delete_threads_now", fail_second_batch)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(CommandError) as failure:
            purge("--older-than", "30d", "--yes", "--batch-size", "1")

    assert "disk full" in str(failure.value)
    assert "Before the failure: Threads: 1, items: 1, attachments: 0" in str(failure.value)
    # The first batch stays deleted, the failed one was rolled back.
    assert list(models.Thread.objects.order_by("pk").values_list("pk", flat=True)) == ["t1", "t2"]
    assert models.ThreadItem.objects.filter(thread="t1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_files_that_cannot_be_deleted_make_the_run_fail(threads, monkeypatch):
    def refuse(name):
        raise PermissionError(name)

    monkeypatch.setattr(default_storage, "delete", refuse)
    with pytest.raises(CommandError, match="3 stored file\\(s\\) could not be deleted"):
        purge("--older-than", "30d", "--yes")
    assert models.Thread.objects.count() == 2


def test_the_lock_lives_where_every_process_sees_it():
    """PostgreSQL: an advisory lock held by this session; SQLite: a file beside the
    database, holding the owner's process id."""
    with locks.exclusive("purge_threads"):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
                )
                assert cursor.fetchone()[0] == 1
        else:
            path = locks.lock_file_path("default", "purge_threads")
            assert path == Path(f"{connection.settings_dict['NAME']}.purge_threads.lock")
            assert path.read_text() == f"{os.getpid()}\n"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 0


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "5x"], "unknown duration unit 'x' in '5x'"),
        (["--older-than", "3m"], "unknown duration unit 'm'"),
        (["--older-than", "30"], "'30' has no unit"),
        (["--older-than", "abc"], "'abc' is not a duration"),
        (["--older-than=-3d"], "'-3d' is not a duration"),
        (["--older-than", "0d"], "'0d' is zero"),
        (["--inactive-for", "1y"], "unknown duration unit 'y'"),
        (["--older-than", "99999999999999w"], "too long a duration"),
        (["--user", "alice", "--batch-size", "0"], "0 is not a batch size"),
        (["--user", "alice", "--batch-size", "-5"], "-5 is not a batch size"),
        (["--user", "alice", "--batch-size", "ten"], "'ten' is not a whole number"),
        (["--user", "alice", "--batch-size", "1000000"], "at most 10000"),
        (["--user", "nobody"], "Unknown user 'nobody'"),
        (["--before", "31/01/2026"], "'31/01/2026' is not a date: use YYYY-MM-DD"),
        ([], "Nothing selected"),
        (["--yes"], "Nothing selected"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_name_the_problem(alice, threads, args, message):
    before = snapshot()
    with pytest.raises(CommandError, match=message):
        purge(*args)
    assert snapshot() == before


@pytest.mark.parametrize("days", [0, -1, "30"])
def test_retention_without_a_usable_setting_is_refused(alice, settings, days):
    settings.CHAT_RETENTION_DAYS = days
    with pytest.raises(CommandError, match="--retention needs CHAT_RETENTION_DAYS"):
        purge("--retention", "--yes")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "5x"], "unknown duration unit 'x'"),
        (["--yes"], "Nothing selected"),
    ],
)
def test_bad_arguments_exit_with_status_2_from_the_shell(args, message):
    env = {**os.environ, "DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "purge_threads", *args],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


# --- pieces ---------------------------------------------------------------------------------


def test_durations():
    assert retention.parse_duration("12h") == timedelta(hours=12)
    assert retention.parse_duration("30d") == timedelta(days=30)
    assert retention.parse_duration("2W") == timedelta(weeks=2)
    assert retention.parse_duration(" 7 d ") == timedelta(days=7)


def test_summary_lines():
    counts = retention.PurgeCounts(threads=12, items=340, attachments=5, bytes=1_258_291)
    assert retention.summary(counts, dry_run=False) == (
        "Threads: 12, items: 340, attachments: 5 (1.2 MB), uploads never sent: 0."
    )
    single = retention.PurgeCounts(threads=1, items=1, attachments=1, bytes=1, unattached=1)
    assert retention.summary(single, dry_run=True) == (
        "Threads: 1, items: 1, attachments: 1 (1 byte), uploads never sent: 1."
    )
    # A dry run and a real one end on the same line.
    assert retention.summary(counts, dry_run=True) == retention.summary(counts, dry_run=False)
