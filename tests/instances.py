"""Run the site as a second, separate app instance (another process) for tests.

The second instance uses the same test database and whatever cache the environment
names, exactly like another worker behind the load balancer.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import asyncio, json, sys
import django
django.setup()
from django.test import AsyncClient


async def main(requests):
    # One event loop for the whole run: a streamed answer is a task of that loop.
    client = AsyncClient()
    statuses = []
    for request in requests:
        response = await client.post(
            "/chatkit/", json.dumps(request["body"]), content_type="application/json",
            headers=request.get("headers", {}),
        )
        if response.streaming:
            b"".join([chunk async for chunk in response.streaming_content])
        statuses.append([response.status_code, response.get("Retry-After")])
    return statuses


job = json.load(sys.stdin)
if job["clock"] is not None:
    import chat.limits

    chat.limits.clock = lambda: job["clock"]
print(json.dumps(asyncio.run(main(job["requests"]))))
"""


def database_url_for(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL naming the database of `settings_dict` (the test database, in tests)."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{credentials}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"
    raise RuntimeError(f"another instance cannot share a {engine} database")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def instance_environment(**overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DEBUG": "1",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CHAT_DEMO_WORD_DELAY": "0",
        "PYTHONPATH": str(ROOT),
    }
    env.update(overrides)
    return env


def run_second_instance(requests: list[dict], clock: float | None = None, **env: str) -> list[list]:
    """POST each request to /chatkit/ in another process; returns [status, Retry-After].

    `clock` holds that process's limits clock still at that time, like `frozen_clock`.
    """
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        input=json.dumps({"requests": requests, "clock": clock}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=instance_environment(**env),
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


class PrivateRedis:
    """A `redis-server` of the test's own on a free loopback port, in a scratch folder:
    a test may stop it to see what the site does without Redis (never the shared one)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        import time

        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb + pg_ctl), trust auth, on a free port."""

    def __init__(self, folder: Path) -> None:
        # Not under `folder`: pytest's folders are private to root, the server's user
        # (postgres, when the tests run as root) must reach its data directory.
        self.data = Path(tempfile.mkdtemp(prefix="test-pg-")) / "pgdata"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def as_owner(self, args: tuple[str, ...]) -> list[str]:
        """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
        if os.geteuid() != 0:
            return list(args)
        shutil.chown(self.data.parent, "postgres")
        return ["runuser", "-u", "postgres", "--", *args]

    def pg(self, *args: str) -> None:
        subprocess.run(self.as_owner(args), check=True, capture_output=True, timeout=120)

    def start(self) -> "PrivatePostgres":
        if not self.data.exists():
            self.pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust")
        self.pg(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.data.parent / "pg.log"),
            "-o",
            f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1",
            "start",
        )
        return self

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                self.as_owner(("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")),
                capture_output=True,
                timeout=60,
            )

    def remove(self) -> None:
        """Stop the server and delete its files."""
        self.stop()
        shutil.rmtree(self.data.parent, ignore_errors=True)


def wait_listening(port: int, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")
