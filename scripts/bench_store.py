"""Benchmark: how fast the ChatKit endpoint pages and answers as data grows.

Prints median and p95 latency of `threads.list`, `items.list` (first page and a deep
cursor) and a whole demo-model turn, for a user with many threads and a long thread.
Runs against a throwaway SQLite database unless BENCH_DATABASE_URL names another one
(e.g. postgres://postgres@127.0.0.1:5432/bench); that database's tables are used as is.

    make bench                     # or: .venv/bin/python scripts/bench_store.py --threads 5000
"""

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ["CHAT_DEMO_WORD_DELAY"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    import django

    django.setup()
    from django.conf import settings

    settings.CHAT_RATE_LIMIT = ""
    settings.CHAT_MAX_CONCURRENT_STREAMS = 0
    logging.getLogger("chat.requests").setLevel(logging.WARNING)  # one line per request


def seed(thread_count: int, item_count: int):
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.utils import timezone

    from chat.models import Thread, ThreadItem

    call_command("migrate", verbosity=0)
    User.objects.filter(username="bench").delete()
    user = User.objects.create_user("bench")
    now = timezone.now()
    Thread.objects.bulk_create(
        (Thread(id=f"thr_bench_{n}", owner=user, title=f"thread {n}",
                created_at=now - timedelta(seconds=n), updated_at=now)
         for n in range(thread_count)),
        batch_size=1000,
    )
    long_thread = Thread.objects.get(pk="thr_bench_0")
    ThreadItem.objects.bulk_create(
        (ThreadItem(
            thread=long_thread, item_id=f"msg_{n}", type="user_message",
            created_at=now + timedelta(milliseconds=n), text=f"message {n}",
            data={"id": f"msg_{n}", "thread_id": long_thread.id, "type": "user_message",
                  "created_at": (now + timedelta(milliseconds=n)).isoformat(),
                  "content": [{"type": "input_text", "text": f"message {n}"}],
                  "attachments": [], "inference_options": {}},
        ) for n in range(item_count)),
        batch_size=1000,
    )
    return user


async def measure(client, body: dict, runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await client.post(body)
        if response.streaming:
            [chunk async for chunk in response.streaming_content]
        assert response.status_code == 200, response.content
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def report(label: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    print(f"{label:<58} median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms")


async def run(user, runs: int, thread_count: int, item_count: int) -> None:
    from tests.chatkit_client import ChatKitClient, user_input

    client = ChatKitClient(user)
    _, first_page = await client.call("threads.list", limit=20)
    report(f"threads.list first page ({thread_count} threads)",
           await measure(client, {"type": "threads.list", "params": {"limit": 20}}, runs))
    deep_after = f"thr_bench_{thread_count // 2}"
    report(f"threads.list page after thread {thread_count // 2}",
           await measure(client, {"type": "threads.list",
                                  "params": {"limit": 20, "after": deep_after}}, runs))
    items = {"thread_id": "thr_bench_0", "limit": 20}
    report(f"items.list newest page ({item_count} items)",
           await measure(client, {"type": "items.list", "params": items}, runs))
    report(f"items.list page deep in the thread ({item_count} items)",
           await measure(client, {"type": "items.list",
                                  "params": {**items, "after": f"msg_{item_count // 2}"}}, runs))
    turn = {"type": "threads.add_user_message",
            "params": {"thread_id": "thr_bench_0", "input": user_input("benchmark")}}
    report(f"one demo-model turn in a {item_count}-item thread",
           await measure(client, turn, max(5, runs // 5)))
    assert json.dumps(first_page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=50)
    options = parser.parse_args()
    scratch = tempfile.TemporaryDirectory()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{scratch.name}/bench.sqlite3"
    configure(url)
    user = seed(options.threads, options.items)
    print(f"database: {url.split('@')[-1]}")
    asyncio.run(run(user, options.runs, options.threads, options.items))


if __name__ == "__main__":
    main()
