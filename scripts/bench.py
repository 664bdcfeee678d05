"""`make bench`: the figures of the README's Performance section, in one run.

1. CPU per request: a real daphne worker (DEBUG off, limits off, JWT checked on every
   request, the demo model at zero delay) on DATABASE_URL (PostgreSQL when it names one,
   else a scratch SQLite file), measured as the worker process's own CPU time (user +
   system, from /proc) per streamed turn, per `items.list` and per `threads.list`; the
   in-process floor (scripts/bench_floor.py: the SDK's ChatKitServer, in-memory store,
   same model) the same way, its rounds taking turns with the worker's; and their
   ratios. Also the most connections the worker held against CHAT_DB_POOL_SIZE.
2. Keyset pages: the first page and pages deep in a long thread, through the store.
3. SQLite under concurrent users: 50 and 200 users each starting a turn at once against
   a worker on a scratch SQLite file; answers that failed and "database is locked" lines.
4. Admin at scale (PostgreSQL only): the thread changelist and a message-text search
   with --items items (generated once with COPY and kept for the next run).

    make bench                                   # everything, quick sizes for 3 and 4
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/perf .venv/bin/python scripts/bench.py \
        --admin-items 1000000 --deep-items 100000

Capacity (1,000 open streams on one worker) is `make bench-streams`.
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_streams  # noqa: E402  (free_port, process figures, pg connections)

SECRET = "bench-secret-key-not-for-production-use-0123456789abcdef"
TICKS = os.sysconf("SC_CLK_TCK")
# Turns each thread takes before a turn is timed: with a user message and an answer per
# turn, enough to fill the history window (CHAT_HISTORY_ITEMS, 40) on both sides.
WARM_TURNS = 20


# --- the worker ---------------------------------------------------------------------------


def worker_environment(database_url: str, pool: int, root: Path = ROOT) -> dict[str, str]:
    """The worker's settings; `root` is the tree whose code it runs (bench_compare.py
    runs another revision's from a git worktree)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DEBUG": "0",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "60",  # the compose value: the pool must still bound it
        "LOG_LEVEL": "WARNING",
        "CHAT_DEMO_WORD_DELAY": "0",
        "CHAT_RATE_LIMIT": "",
        "CHAT_MAX_CONCURRENT_STREAMS": "0",
        "CHAT_DB_POOL_SIZE": str(pool),
        "PYTHONPATH": str(root),
    }


def tokens_for(env: dict[str, str], users: int | list[str]) -> list[str]:
    """Migrate, and an access token for each of `users` bench users (or these names)."""
    names = users if isinstance(users, list) else [f"bench{n}" for n in range(users)]
    users = len(names)
    script = (
        "import django, sys; django.setup()\n"
        "from django.core.management import call_command\n"
        "from django.contrib.auth.models import User\n"
        "from rest_framework_simplejwt.tokens import AccessToken\n"
        "call_command('migrate', verbosity=0)\n"
        f"for name in {names!r}:\n"
        "    user, _ = User.objects.get_or_create(username=name)\n"
        "    print(AccessToken.for_user(user))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=600,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return done.stdout.split()[-users:]


@contextmanager
def worker(env: dict[str, str], log_path: Path, root: Path = ROOT):
    """A daphne worker running `root`'s code (`-m chatsite.worker` imports from the cwd),
    started and answering; its process and port."""
    port = bench_streams.free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*bench_streams.WORKER, "--bind", "127.0.0.1", "--port", str(port),
             "chatsite.asgi:application"],
            env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    connection.request("GET", "/healthz/")
                    connection.getresponse().read()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit(f"daphne did not start; see {log_path}") from None
                    time.sleep(0.2)
            yield process, port
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Client:
    """One keep-alive HTTP/1.1 connection to the worker, as a browser tab has."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, type: str, **params: Any) -> tuple[int, bytes]:
        body = json.dumps({"type": type, "params": params})
        self.connection.request("POST", "/chatkit/", body, self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()


def message(text: str) -> dict[str, Any]:
    return {"content": [{"type": "input_text", "text": text}], "attachments": [],
            "inference_options": {}}


def new_thread(client: Client, text: str) -> str:
    status, body = client.call("threads.create", input=message(text))
    assert status == 200, body[:300]
    for line in body.split(b"\n"):
        if line.startswith(b"data: "):
            event = json.loads(line[6:])
            if event["type"] == "thread.created":
                return event["thread"]["id"]
    raise AssertionError(body[:300])


class ConnectionSampler:
    """The most connections to `database` seen while the block runs (PostgreSQL)."""

    def __init__(self, database: str | None) -> None:
        self.database, self.peak, self.running = database, 0, False

    def __enter__(self) -> "ConnectionSampler":
        if self.database:
            self.running = True
            self.thread = threading.Thread(target=self.sample, daemon=True)
            self.thread.start()
        return self

    def sample(self) -> None:
        while self.running:
            # The sampler's own connection is to the admin database, not this one.
            self.peak = max(self.peak, bench_streams.connections_to(self.database))
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        if self.database:
            self.thread.join()


def measure_worker(client: Client, pid: int, thread_ids: list[str], turns: int,
                   reads: int) -> dict[str, float]:
    """CPU ms of the worker per streamed turn and per read, in one round."""
    figures: dict[str, float] = {}
    events = 0
    started = cpu_seconds(pid)
    for n in range(turns):
        status, body = client.call(
            "threads.add_user_message", thread_id=thread_ids[n % len(thread_ids)],
            input=message("hello there"),
        )
        assert status == 200 and b'"type":"error"' not in body, body[-300:]
        events += body.count(b"data: ")
    figures["turn_ms"] = (cpu_seconds(pid) - started) * 1000 / turns
    figures["events_per_turn"] = events / turns
    for kind, params in (
        ("items.list", {"thread_id": thread_ids[0], "limit": 20}),
        ("threads.list", {"limit": 20}),
    ):
        started = cpu_seconds(pid)
        for _ in range(reads):
            status, body = client.call(kind, **params)
            assert status == 200, body[:300]
        figures[f"{kind}_ms"] = (cpu_seconds(pid) - started) * 1000 / reads
    return figures


def cpu_figures(database_url: str, turns: int, reads: int, threads: int, pool: int,
                rounds: int, logs: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The worker's figures and the floor's, each the least of `rounds` rounds. A round
    of the worker and a round of the floor take turns, so that load from elsewhere on the
    machine falls on both alike (it only ever adds CPU: hence the least)."""
    env = worker_environment(database_url, pool)
    [token] = tokens_for(env, 1)
    database = database_url.rsplit("/", 1)[1] if database_url.startswith("postgres") else None
    served: dict[str, float] = {}
    floor: dict[str, float] = {}
    with worker(env, logs / "cpu.log") as (process, port), ConnectionSampler(database) as peak:
        client = Client(port, token)
        thread_ids = [new_thread(client, f"hi {n}") for n in range(threads)]
        warm_up(client, thread_ids)
        for _ in range(rounds):
            keep_least(served, measure_worker(client, process.pid, thread_ids, turns, reads))
            keep_least(floor, floor_round(turns, reads, threads))
    served["connections_peak"] = peak.peak
    return served, floor


def warm_up(client: Client, thread_ids: list[str]) -> None:
    """Warm up (first requests import and cache), and give each thread a full history
    window, as the floor's threads get: a turn's cost grows with the history sent."""
    for n in range(WARM_TURNS * len(thread_ids)):
        client.call("threads.add_user_message", thread_id=thread_ids[n % len(thread_ids)],
                    input=message("hello there"))
    for _ in range(10):
        client.call("items.list", thread_id=thread_ids[0], limit=20)
        client.call("threads.list", limit=20)


def keep_least(figures: dict[str, float], round_figures: dict[str, float]) -> None:
    for key, value in round_figures.items():
        figures[key] = min(value, figures.get(key, value))


def floor_round(turns: int, reads: int, threads: int) -> dict[str, float]:
    """One round of the in-process floor, in a process of its own."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_floor.py"), "--turns", str(turns),
         "--reads", str(reads), "--threads", str(threads), "--warm-turns", str(WARM_TURNS)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- SQLite under concurrent users ----------------------------------------------------------


async def user_turn(port: int, token: str, n: int) -> str:
    """One user's threads.create, read to the end; "ok" or what went wrong."""
    outcome = await bench_streams.one_stream(port, token, n, timeout=300)
    return outcome


async def crowd(port: int, tokens: list[str]) -> list[str]:
    return await asyncio.gather(*(user_turn(port, token, n) for n, token in enumerate(tokens)))


def sqlite_crowds(sizes: list[int], logs: Path) -> dict[int, dict[str, int]]:
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        env = worker_environment(f"sqlite:///{scratch}/bench.sqlite3", 10)
        tokens = tokens_for(env, max(sizes))
        for size in sizes:
            log = logs / f"sqlite-{size}.log"
            with worker(env, log) as (_, port):
                started = time.monotonic()
                outcomes = asyncio.run(crowd(port, tokens[:size]))
                seconds = time.monotonic() - started
            locked = log.read_text().count("database is locked")
            failed = sum(outcome != "ok" for outcome in outcomes)
            results[size] = {"failed": failed, "locked": locked, "seconds": seconds}
    return results


# --- in-process: keyset pages and the admin --------------------------------------------------


def setup_django(database_url: str) -> None:
    os.environ.update({
        "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DEBUG": "0", "SECRET_KEY": SECRET, "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING",
        # The admin's pages name their static files, and with DEBUG off a manifest from
        # `collectstatic` would be needed for that: plain names, nothing to collect.
        "STATIC_MANIFEST": "0",
    })
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def copy_rows(table: str, columns: list[str], rows) -> None:
    """COPY into `table` on PostgreSQL, bulk INSERT elsewhere."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(columns))
    batch: list = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(row)
            if len(batch) == 5000:
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                   batch)
                batch = []
        if batch:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                               batch)


def item_row(thread_id: str, n: int, created_at, text: str) -> tuple:
    item_id = f"msg_{thread_id}_{n}"
    data = {"id": item_id, "thread_id": thread_id, "created_at": created_at.isoformat(),
            "type": "user_message", "content": [{"type": "input_text", "text": text}],
            "attachments": [], "inference_options": {}}
    return (item_id, thread_id, "user_message", created_at, json.dumps(data), text, False, "{}")


# Each page is read this many times (after one warm-up), interleaved with the others: the
# figures are medians, and a millisecond query on a shared machine needs many samples.
KEYSET_ROUNDS = 100

ITEM_COLUMNS = ["item_id", "thread_id", "type", "created_at", "data", "text", "partial", "page"]


def keyset_pages(deep_items: int, database_url: str, logs: Path) -> dict[str, dict[str, float]]:
    """The first page and deep pages of one thread of `deep_items` items: the query
    through the store, and the `items.list` request a client makes through a worker."""
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from chat.chatkit.paging import cursor_for
    from chat.chatkit.store import DjangoStore
    from chat.context import RequestContext
    from chat.models import Thread, ThreadItem

    user, _ = User.objects.get_or_create(username="bench_keyset")
    thread_id = f"thr_keyset_{deep_items}"
    if ThreadItem.objects.filter(thread_id=thread_id).count() != deep_items:
        Thread.objects.filter(pk=thread_id).delete()
        now = timezone.now()
        Thread.objects.create(id=thread_id, owner=user, created_at=now, updated_at=now)
        start = now - timedelta(seconds=deep_items)
        # Every tenth timestamp repeats: ties are broken by the id, as in real threads.
        copy_rows("chat_threaditem", ITEM_COLUMNS, (
            item_row(thread_id, n, start + timedelta(seconds=n - n % 10 // 9), f"message {n}")
            for n in range(deep_items)
        ))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE chat_threaditem")
    store = DjangoStore()
    positions = list(ThreadItem.objects.filter(thread_id=thread_id)
                     .order_by("created_at", "id").values_list("created_at", "id"))
    anchors = {"first": None}
    for share in (0.5, 0.9, 0.999):
        # The `after` a client holds there: the cursor of the page before.
        anchors[f"at {share:.1%}"] = cursor_for(*positions[int(len(positions) * share) - 21])
    queries: dict[str, list[float]] = {name: [] for name in anchors}
    requests: dict[str, list[float]] = {name: [] for name in anchors}

    async def measure() -> None:
        for _ in range(KEYSET_ROUNDS + 1):  # interleaved: load on the machine falls on every page
            for name, after in anchors.items():
                context = RequestContext(user=user)  # a request's own, fresh each time
                started = time.perf_counter()
                page = await store.load_thread_items(thread_id, after, 20, "asc", context)
                queries[name].append((time.perf_counter() - started) * 1000)
                assert len(page.data) == 20

    asyncio.run(measure())
    env = worker_environment(database_url, 10)
    [token] = tokens_for(env, ["bench_keyset"])
    with worker(env, logs / "keyset.log") as (_, port):
        client = Client(port, token)
        for _ in range(KEYSET_ROUNDS + 1):
            for name, after in anchors.items():
                params = {"thread_id": thread_id, "limit": 20, "order": "asc"}
                if after:
                    params["after"] = after
                started = time.perf_counter()
                status, body = client.call("items.list", **params)
                requests[name].append((time.perf_counter() - started) * 1000)
                assert status == 200 and len(json.loads(body)["data"]) == 20
    return {
        "query": {name: statistics.median(values[1:]) for name, values in queries.items()},
        "request": {name: statistics.median(values[1:]) for name, values in requests.items()},
    }


def admin_at_scale(items: int, per_thread: int = 10) -> dict[str, float]:
    """Changelist and message-text search with `items` items (generated once)."""
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.utils import timezone

    from chat.models import Thread, ThreadItem

    threads = max(1, items // per_thread)
    owners = [User.objects.get_or_create(username=f"bench_admin{n}")[0] for n in range(100)]
    prefix = f"thr_adm{items}_"
    if ThreadItem.objects.filter(thread__id__startswith=prefix).count() != items:
        started = time.monotonic()
        Thread.objects.filter(pk__startswith=prefix).delete_with_dependents()
        now = timezone.now()
        copy_rows("chat_thread", ["id", "owner_id", "title", "status", "metadata",
                                  "created_at", "updated_at", "input_tokens", "output_tokens"],
                  ((f"{prefix}{n}", owners[n % 100].pk, f"Conversation {n}", "{}", "{}",
                    now - timedelta(minutes=n), now - timedelta(seconds=n), 10, 20)
                   for n in range(threads)))
        words = ["invoice", "shipping", "refund", "password", "account", "delivery",
                 "order", "payment", "upgrade", "question"]
        rng = random.Random(1)

        def text(n: int) -> str:
            chosen = " ".join(rng.choice(words) for _ in range(8))
            return f"{chosen} quokka{n % 997}" if n % 1000 == 0 else chosen

        if connection.vendor == "postgresql":  # one index build after the load, not per row
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX IF EXISTS chat_item_text_trgm")
        copy_rows("chat_threaditem", ITEM_COLUMNS, (
            item_row(f"{prefix}{n // per_thread}", n,
                     now - timedelta(minutes=n // per_thread, seconds=-(n % per_thread)), text(n))
            for n in range(items)
        ))
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("CREATE INDEX chat_item_text_trgm ON chat_threaditem "
                               "USING gin (UPPER(text) gin_trgm_ops)")
                cursor.execute("ANALYZE")
        print(f"  (generated {threads:,} threads, {items:,} items in "
              f"{time.monotonic() - started:.0f} s; kept for the next run)", flush=True)
    admin, _ = User.objects.get_or_create(username="bench_staff", is_staff=True,
                                          is_superuser=True)
    client = DjangoClient()
    client.force_login(admin)

    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    figures = {}
    for name, url in (
        ("changelist", "/admin/chat/thread/"),
        ("search, message text", "/admin/chat/thread/?q=quokka42"),
        ("search, a title", "/admin/chat/thread/?q=98765"),
        ("search, an owner", "/admin/chat/thread/?q=bench_admin7"),
    ):
        get(url)
        figures[name] = median_ms(lambda url=url: get(url), 5)
    figures["items"] = ThreadItem.objects.count()
    return figures


# --- the report ------------------------------------------------------------------------------


def hardware() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--threads", type=int, default=10, help="threads the turns go to")
    parser.add_argument("--pool", type=int, default=10, help="CHAT_DB_POOL_SIZE")
    parser.add_argument("--rounds", type=int, default=3,
                        help="CPU figures are the least of this many rounds")
    parser.add_argument("--deep-items", type=int, default=100_000)
    parser.add_argument("--admin-items", type=int, default=100_000,
                        help="items for the admin figures (the issue's: 1000000)")
    parser.add_argument("--users", default="50,200", help="concurrent SQLite users")
    parser.add_argument("--skip", default="", help="comma-separated: cpu,keyset,sqlite,admin")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    database_url = os.environ.get("DATABASE_URL", "")
    logs = Path(tempfile.mkdtemp(prefix="bench-"))
    print(f"hardware: {hardware()}")
    print(f"database: {database_url.split('@')[-1] if database_url else 'SQLite (scratch)'}; "
          f"worker logs in {logs}")

    if "cpu" not in skip:
        with tempfile.TemporaryDirectory() as scratch:
            url = database_url or f"sqlite:///{scratch}/cpu.sqlite3"
            served, floor = cpu_figures(url, args.turns, args.reads, args.threads, args.pool,
                                        args.rounds, logs)
        print(f"\nCPU ms per request (least of {args.rounds} rounds; each thread first takes "
              f"{WARM_TURNS} turns, on both sides)")
        print("                         HTTP worker   in-process floor   ratio")
        for key, label in (("turn_ms", "streamed turn"), ("items.list_ms", "items.list"),
                           ("threads.list_ms", "threads.list")):
            print(f"  {label:<22} {served[key]:>9.2f}   {floor[key]:>14.2f}   "
                  f"{served[key] / floor[key]:>7.2f}")
        print(f"  SSE events per turn: {served['events_per_turn']:.0f} (floor "
              f"{floor['events_per_turn']:.0f})")
        if database_url.startswith("postgres"):
            print(f"  database connections: at most {served['connections_peak']} "
                  f"(CHAT_DB_POOL_SIZE={args.pool}, DATABASE_CONN_MAX_AGE=60)")

    if not {"keyset", "admin"} <= skip:
        setup_django(database_url or f"sqlite:///{logs / 'store.sqlite3'}")
    if "keyset" not in skip:
        store_url = database_url or f"sqlite:///{logs / 'store.sqlite3'}"
        pages = keyset_pages(args.deep_items, store_url, logs)
        print(f"\nitems.list pages of a {args.deep_items:,}-item thread "
              f"(ms, median of {KEYSET_ROUNDS})")
        print("                      the query      the HTTP request")
        for where in pages["query"]:
            query, request = pages["query"][where], pages["request"][where]
            first_query, first_request = pages["query"]["first"], pages["request"]["first"]
            print(f"  {where:<12} {query:>8.2f} ({query / first_query:.2f}x)"
                  f" {request:>8.2f} ({request / first_request:.2f}x)")

    if "sqlite" not in skip:
        sizes = [int(size) for size in args.users.split(",") if size]
        print("\nSQLite, users starting a turn at once")
        for size, result in sqlite_crowds(sizes, logs).items():
            print(f"  {size:>4} users: {result['failed']} failed, {result['locked']} "
                  f"'database is locked', all answered in {result['seconds']:.1f} s")

    if "admin" not in skip and database_url.startswith("postgres"):
        figures = admin_at_scale(args.admin_items)
        print(f"\nadmin, {figures.pop('items'):,} items in the database (ms, median of 5)")
        for name, ms in figures.items():
            print(f"  {name:<20} {ms:.0f}")


if __name__ == "__main__":
    main()
