"""What the performance work promises that a client or operator can observe: requests
parsed once, writers that never meet "database is locked", a bounded set of PostgreSQL
connections. Speed itself is measured by `make bench` (scripts/bench.py), not here."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test import Client
from pydantic import TypeAdapter

from chat.models import Thread
from tests.asgi import post_over_asgi
from tests.chatkit_client import bearer
from tests.test_query_budget import make_items, make_threads

ROOT = Path(__file__).resolve().parent.parent


def post(user, type: str, **params):
    return Client().post(
        "/chatkit/",
        json.dumps({"type": type, "params": params}),
        content_type="application/json",
        headers=bearer(user),
    )


@pytest.mark.django_db(transaction=True)
def test_a_request_builds_no_pydantic_adapter(alice):
    """The SDK's process() built a TypeAdapter for ChatKitReq on every call (~2 ms)."""
    make_threads(alice, 2)
    thread = Thread.objects.filter(owner=alice).first()
    make_items(thread, 3)
    post(alice, "threads.list")  # anything built once per process is built now

    with mock.patch.object(TypeAdapter, "__init__", autospec=True,
                           side_effect=TypeAdapter.__init__) as built:
        threads = post(alice, "threads.list", limit=5)
        items = post(alice, "items.list", thread_id=thread.id)

    assert threads.status_code == items.status_code == 200
    assert len(items.json()["data"]) == 3
    assert built.call_count == 0


@pytest.mark.django_db(transaction=True)
async def test_a_chatkit_request_starts_no_thread(alice):
    """Django's ASGI handler ran the request signals on a thread started for each request
    (and another to join it): the site's HTTP application must not."""
    from chatsite.asgi import application

    http = application.app.application_mapping["http"]
    body = {"type": "threads.list", "params": {}}
    await post_over_asgi(alice, body, app=http)  # the database pool's threads start once

    with mock.patch.object(threading.Thread, "start", autospec=True,
                           side_effect=threading.Thread.start) as started:
        chunks = await post_over_asgi(alice, body, app=http)

    assert json.loads(b"".join(chunks)) == {"data": [], "has_more": False}
    assert started.call_count == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_meet_database_is_locked(alice):
    """Read-then-write transactions from many threads at once, as concurrent users' turns
    make them. SQLite's deferred transactions deadlock upgrading their read lock and fail
    at once ("database is locked"), whatever the busy timeout; they must queue instead."""
    make_threads(alice, 1)
    thread_id = Thread.objects.get(owner=alice).pk
    errors: list[Exception] = []
    start = threading.Barrier(8)

    def writer() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(5):
                with transaction.atomic():
                    tokens = Thread.objects.get(pk=thread_id).input_tokens
                    time.sleep(0.002)
                    Thread.objects.filter(pk=thread_id).update(input_tokens=tokens + 1)
        except OperationalError as error:
            errors.append(error)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=writer) for _ in range(8)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=60)

    assert errors == []
    if connection.vendor == "sqlite":  # one writer at a time: no update is lost
        assert Thread.objects.get(pk=thread_id).input_tokens == 40


def settings_in_a_fresh_process(**environ: str) -> dict:
    """The default database as a worker started with `environ` would open it."""
    script = (
        "import json, django; django.setup();"
        "from django.db import connection;"
        "connection.ensure_connection();"
        "s = connection.settings_dict;"
        "print(json.dumps({'CONN_MAX_AGE': s['CONN_MAX_AGE'], 'OPTIONS': s['OPTIONS'],"
        " 'pooled': connection.pool is not None if connection.vendor == 'postgresql' else None,"
        " 'journal': connection.cursor().execute('PRAGMA journal_mode').fetchone()[0]"
        " if connection.vendor == 'sqlite' else None}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **environ}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_immediate_transactions(tmp_path):
    found = settings_in_a_fresh_process(DATABASE_URL=f"sqlite:///{tmp_path / 'site.db'}")

    assert found["journal"] == "wal"
    assert found["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert found["OPTIONS"]["timeout"] >= 5


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only"
)
@pytest.mark.django_db
def test_postgresql_uses_a_pool_of_chat_db_pool_size_even_with_conn_max_age():
    """DATABASE_CONN_MAX_AGE=60 (the compose value) leaked connections; with the pool a
    connection goes back when its request ends, so Django must not keep it as well."""
    own = connection.settings_dict  # the test database, which exists
    url = "postgres://{USER}:{PASSWORD}@{HOST}:{PORT}/{NAME}".format(**own)
    found = settings_in_a_fresh_process(
        DATABASE_URL=url, DATABASE_CONN_MAX_AGE="60", CHAT_DB_POOL_SIZE="4"
    )

    assert found["pooled"] is True
    assert found["OPTIONS"]["pool"]["max_size"] == 4
    assert found["CONN_MAX_AGE"] == 0


def test_the_worker_keeps_what_start_up_built_out_of_full_collections():
    """A full garbage collection walked every object of Django and the SDKs: ~200 ms
    every few hundred answers. The ASGI application freezes them once built."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import gc, chatsite.asgi; print(gc.get_freeze_count())"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings"},
        capture_output=True, text=True, timeout=120,
    )

    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert int(loaded.stdout.split()[-1]) > 100_000


def test_a_site_worker_runs_daphne_on_uvloop():
    """daphne builds its loop when its server module is imported: chatsite.worker must
    choose uvloop before that, or every worker silently runs on asyncio's own loop."""
    script = (  # `--help`: daphne builds its loop, prints its usage and exits
        "import atexit, sys\n"
        "atexit.register(lambda: print(type(sys.modules['daphne.server'].twisted_loop)))\n"
        "sys.argv = ['chatsite.worker', '--help']\n"
        "import chatsite.worker\n"
        "chatsite.worker.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "<class 'uvloop.Loop'>"


@pytest.mark.parametrize("command, warned", [("daphne", True), ("chatsite.worker", False)])
def test_plain_daphne_is_told_it_runs_without_uvloop(command, warned):
    script = (  # daphne's own import order: its server (and loop) first, then the app
        "import sys\n"
        "if sys.argv[1] == 'chatsite.worker':\n"
        "    import asyncio, uvloop\n"
        "    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())\n"
        "import daphne.server\n"
        "import chatsite.asgi\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, command], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings"},
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert ("python -m chatsite.worker" in done.stderr) == warned, done.stderr[-2000:]
