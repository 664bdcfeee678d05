"""Benchmark: the admin insights page and the feedback review queue on a large history.

The first view of a range sums its finished days into the daily rollups once (reported
on its own); the timed runs after it are what every later view costs.

Creates a fresh PostgreSQL database (127.0.0.1:5432, dropped first if it exists), fills it
with SQL (`generate_series`, seconds rather than hours) and times the queries behind the
pages: by default 1,000,000 answered turns and 1,000,000 thread items over
90 days, 2,000 users, 100,000 threads, 50,000 ratings, 20,000 refusals.

    make bench-insights
    .venv/bin/python scripts/bench_insights.py --database chat_bench_insights --turns 1000000
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def fresh_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def configure(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["ENV_FILE"] = ""
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()


SEED = """
INSERT INTO auth_user (username, password, is_superuser, is_staff, is_active, first_name,
                       last_name, email, date_joined)
SELECT 'user' || n, '!', false, false, true, '', '', '', now() FROM generate_series(1, %(users)s) n;

INSERT INTO chat_thread (id, owner_id, title, status, metadata, created_at, updated_at,
                         input_tokens, output_tokens)
SELECT 'thr_' || n, (SELECT min(id) FROM auth_user) + n %% %(users)s, 'thread ' || n,
       '{}'::jsonb, '{}'::jsonb,
       now() - (n %% %(days)s) * interval '1 day', now(), 0, 0
FROM generate_series(1, %(threads)s) n;

INSERT INTO chat_threaditem (item_id, thread_id, type, created_at, data, text, partial, page)
SELECT 'msg_' || n, 'thr_' || (1 + n %% %(threads)s),
       CASE WHEN n %% 2 = 0 THEN 'user_message' ELSE 'assistant_message' END,
       now() - (n %% %(days)s) * interval '1 day' + (n %% 86400) * interval '1 second',
       '{}'::jsonb, 'message text ' || n, false,
       CASE WHEN n %% 2 = 0 THEN '{"url": "https://docs.example.com/p", "title": "Docs"}'::jsonb
            ELSE '{}'::jsonb END
FROM generate_series(1, %(items)s) n;

INSERT INTO chat_turn (id, user_id, thread_id, kind, state, worker, started_at,
                       lease_expires_at, finished_at, answered, input_tokens, output_tokens,
                       model, first_token_ms, duration_ms)
SELECT 'turn_' || n, (SELECT min(id) FROM auth_user) + n %% %(users)s,
       'thr_' || (1 + n %% %(threads)s), 'threads.add_user_message', 'complete', '',
       finished - interval '5 seconds', finished, finished, true,
       100 + n %% 900, 50 + n %% 400,
       (ARRAY['gpt-4.1-mini', 'gpt-4.1', 'demo'])[1 + n %% 3],
       200 + n %% 1800, 1000 + n %% 9000
FROM generate_series(1, %(turns)s) n,
     LATERAL (SELECT now() - (n %% %(days)s) * interval '1 day'
                           - (n %% 86400) * interval '1 second' AS finished) f;

INSERT INTO chat_feedback (item_id, user_id, kind, created_at, review_status, review_note)
SELECT i.id, t.owner_id, CASE WHEN i.id %% 3 = 0 THEN 'negative' ELSE 'positive' END,
       i.created_at, (ARRAY['new', 'reviewed', 'needs_fix'])[1 + i.id %% 3], ''
FROM chat_threaditem i JOIN chat_thread t ON t.id = i.thread_id
WHERE i.type = 'assistant_message' ORDER BY i.id LIMIT %(ratings)s;

INSERT INTO chat_limitrefusal (user_id, "limit", created_at)
SELECT (SELECT min(id) FROM auth_user) + n %% %(users)s,
       (ARRAY['rate', 'tokens', 'streams', 'thread'])[1 + n %% 4],
       now() - (n %% %(days)s) * interval '1 day'
FROM generate_series(1, %(refusals)s) n;

ANALYZE;
"""


def seed(database_url: str, sizes: dict[str, int]) -> float:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
        for statement in SEED.split(";\n"):
            if statement.strip():
                conn.execute(statement, sizes)
    return time.perf_counter() - started


def timed(function, runs: int) -> tuple[float, float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), max(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="chat_bench_insights")
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    database_url = fresh_database(args.database)
    configure(database_url)
    sizes = {
        "users": 2000, "threads": 100_000, "days": 90, "turns": args.turns,
        "items": args.items, "ratings": 50_000, "refusals": 20_000,
    }
    print(f"seeded {args.turns:,} turns, {args.items:,} items in {seed(database_url, sizes):.0f} s")

    from datetime import timedelta

    from django.contrib.auth.models import User

    from chat.review import insights
    from chat.review.queue import QueueFilters, queue

    month = insights.default_filters(days=30)
    quarter = insights.default_filters(days=90)
    one_user = insights.Filters(
        month.start, month.end, User.objects.get(username="user7").pk
    )
    started = time.perf_counter()
    insights.insights(quarter)
    print(f"first view of 90 days (sums 89 finished days into the daily rollups): "
          f"{time.perf_counter() - started:.1f} s")
    cases = {
        "insights, last 30 days": lambda: insights.insights(month),
        "insights, last 90 days": lambda: insights.insights(quarter),
        "insights, 30 days, one user": lambda: insights.insights(one_user),
        "insights CSV, 30 days": lambda: insights.as_csv(insights.insights(month)),
        "review queue, first page": lambda: list(queue(QueueFilters())[:25]),
        "review queue, needs fix, one model": lambda: list(
            queue(QueueFilters(status="needs_fix", model="gpt-4.1"))[:25]
        ),
        "review queue, a week ago": lambda: list(
            queue(QueueFilters(end=month.end - timedelta(days=7)))[:25]
        ),
    }
    print(f"{'query':<40} {'median ms':>10} {'max ms':>10}  ({args.runs} runs)")
    for name, case in cases.items():
        median, worst = timed(case, args.runs)
        print(f"{name:<40} {median:>10.0f} {worst:>10.0f}")


if __name__ == "__main__":
    main()
