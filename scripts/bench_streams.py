"""Capacity: how many answers one daphne worker streams at once, and what it holds.

Starts one worker on a loopback port against a PostgreSQL database of its own (created
afresh, migrated), opens N streams at once (threads.create, one user, limits off, the
demo model at a slow pace so every stream stays open), reads them to their end, and
prints: streams answered and failed, the most database connections the worker held
(pg_stat_activity), its most threads, and its peak resident memory.

    make bench-streams              # or: .venv/bin/python scripts/bench_streams.py --streams 200
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
# A site worker as production runs one: daphne on uvloop (chatsite/worker.py).
WORKER = [str(ROOT / ".venv" / "bin" / "python"), "-m", "chatsite.worker"]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def worker_environment(database_url: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-streams-secret-key-not-for-production-use-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "CHAT_DEMO_WORD_DELAY": str(args.word_delay),
        "CHAT_RATE_LIMIT": "",
        "CHAT_MAX_CONCURRENT_STREAMS": "0",
        "CHAT_DB_POOL_SIZE": str(args.pool),
        "PYTHONPATH": str(ROOT),
    }


def prepare(env: dict[str, str]) -> str:
    """Migrate, create the bench user, and mint an access token for it."""
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "from django.contrib.auth.models import User\n"
        "from rest_framework_simplejwt.tokens import AccessToken\n"
        "call_command('migrate', verbosity=0)\n"
        "user, _ = User.objects.get_or_create(username='bench')\n"
        "print(AccessToken.for_user(user))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
        check=True, timeout=300,
    )
    return done.stdout.strip().splitlines()[-1]


def process_figures(pid: int) -> tuple[int, int]:
    """The worker's thread count and peak resident memory (kB)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["Threads"]), int(fields["VmHWM"].split()[0])


def connections_to(database: str) -> int:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchone()
    return row[0]


async def one_stream(port: int, token: str, n: int, timeout: float) -> str:
    """One threads.create over a plain HTTP/1.1 connection, read to its last event."""
    body = json.dumps({"type": "threads.create",
                       "params": {"input": {"content": [{"type": "input_text",
                                                         "text": f"stream {n}"}],
                                            "attachments": [], "inference_options": {}}}})
    request = (
        f"POST /chatkit/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n{body}"
    ).encode()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            status = (await reader.readline()).split()[1].decode()
            if status != "200":
                writer.close()
                return f"status {status}"
            last = ""
            while line := await reader.readline():
                if line.startswith(b"data: "):
                    last = json.loads(line[6:])["type"]
            writer.close()
            return "ok" if last not in ("", "error") else f"ended with {last or 'nothing'}"
    except (OSError, TimeoutError) as error:
        return type(error).__name__


async def run(args: argparse.Namespace, port: int, token: str, pid: int, database: str) -> None:
    peak = {"connections": 0, "threads": 0}

    async def sample() -> None:
        while True:
            threads, _ = process_figures(pid)
            peak["threads"] = max(peak["threads"], threads)
            connections = await asyncio.to_thread(connections_to, database)
            peak["connections"] = max(peak["connections"], connections)
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    outcomes = await asyncio.gather(
        *(one_stream(port, token, n, args.timeout) for n in range(args.streams))
    )
    elapsed = time.monotonic() - started
    sampler.cancel()
    _, peak_rss = process_figures(pid)
    failed = {outcome: outcomes.count(outcome) for outcome in set(outcomes) if outcome != "ok"}
    print(f"streams          {args.streams} at once, answered {outcomes.count('ok')} "
          f"in {elapsed:.1f} s")
    print(f"errors           {sum(failed.values())} {failed or ''}")
    print(f"db connections   at most {peak['connections']} (CHAT_DB_POOL_SIZE={args.pool})")
    print(f"worker threads   at most {peak['threads']}")
    print(f"peak RSS         {peak_rss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--word-delay", type=float, default=0.3,
                        help="seconds between the demo model's words (default 0.3)")
    parser.add_argument("--pool", type=int, default=10, help="CHAT_DB_POOL_SIZE")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--database", default="chat_bench_streams")
    args = parser.parse_args()

    database_url = fresh_database(args.database)
    env = worker_environment(database_url, args)
    token = prepare(env)
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    worker = subprocess.Popen(
        [*WORKER, "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise SystemExit("the worker did not start") from None
                time.sleep(0.2)
        asyncio.run(run(args, port, token, worker.pid, args.database))
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.seek(0)
        errors = [line for line in log.read().splitlines()
                  if "ERROR" in line or "Traceback" in line]
        print(f"worker log       {len(errors)} error line(s)")
        for line in errors[:5]:
            print(f"  {line}")


if __name__ == "__main__":
    main()
