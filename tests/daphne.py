"""Real workers for fault tests: daphne processes on loopback ports, and a small HTTP client.

`start_worker` runs `daphne chatsite.asgi:application` on a free port with the test
database (tests/instances.py) and the environment a test gives it, its output (stdout and
stderr) in a log file; `Worker` kills it (SIGKILL), terminates it (SIGTERM) and reads the
log. The client speaks just enough HTTP/1.1 (a request, then a plain or chunked body, read
as it arrives) to follow a server-sent event stream from a worker and hang up mid-answer.
Every wait has a timeout.
"""

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.instances import ROOT, free_port, instance_environment

# A site worker as production runs one: daphne on uvloop (chatsite/worker.py).
WORKER = [sys.executable, "-m", "chatsite.worker"]
# What a worker must never log in a normal flow: errors, tracebacks, and asyncio's
# complaints about tasks left behind.
PROBLEM = re.compile(
    r"\bERROR\b|\bCRITICAL\b|Traceback|Task was destroyed|never retrieved|Exception in callback"
)
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 15.0


@dataclass
class Worker:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def problems(self) -> list[str]:
        """The log lines that report an error (see PROBLEM)."""
        return [line for line in self.log().splitlines() if PROBLEM.search(line)]

    def kill(self) -> None:
        """kill -9: no handler runs, nothing is cleaned up."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM: what a container stop or a deploy sends."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int:
        """The exit code once the process ended by itself; fails after `timeout` s."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running {timeout:g} s after SIGTERM\n{self.log_tail()}"
            ) from None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it is still running after 10 s."""
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def wait_for_port(worker: Worker, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"{worker.name} exited before serving:\n{worker.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", worker.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{worker.name} did not listen within {timeout:g} s:\n{worker.log_tail()}")


def launch_worker(folder: Path, name: str, **settings: str) -> Worker:
    """daphne serving the site on the test database, `settings` in its environment, not yet
    listening (see `wait_for_port`). Its log is `folder/<name>.log`."""
    port = free_port()
    env = instance_environment(
        **{
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            "MEDIA_ROOT": str(folder / "media"),
            # Short, so a worker stopped at the end of a test does not wait long for its turns.
            "CHAT_SHUTDOWN_GRACE_SECONDS": "1",
            **settings,
        }
    )
    # The test process may allow it; the site must stay as strict as in production.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log_path = folder / f"{name}.log"
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [*WORKER, "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Worker(name=name, port=port, process=process, log_path=log_path)


def start_workers(folder: Path, specs: dict[str, dict[str, str]]) -> list[Worker]:
    """Workers named and configured by `specs`, started side by side; each listens when
    this returns (or all are killed and it raises)."""
    launched = [launch_worker(folder, name, **settings) for name, settings in specs.items()]
    try:
        for worker in launched:
            wait_for_port(worker)
    except Exception:
        for worker in launched:
            worker.kill()
        raise
    return launched


# --- a small HTTP/1.1 client ----------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    chunked: bool
    buffer: str = ""
    events: list[dict] = field(default_factory=list)

    async def body_parts(self) -> AsyncIterator[bytes]:
        """The body as it arrives, until the server ends it."""
        if not self.chunked:
            length = self.headers.get("content-length")
            if length is not None:
                yield await self.reader.readexactly(int(length))
                return
            while part := await self.reader.read(65536):
                yield part
            return
        while True:
            line = await self.reader.readline()
            if not line:  # a cut, not an end: a chunked body ends with a chunk of size 0
                raise ConnectionError("the server closed the connection mid-body")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                await self.reader.readline()
                return
            part = await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            yield part

    async def sse(self) -> AsyncIterator[dict]:
        """Each `data:` event of a server-sent event stream, decoded, as it arrives; every
        one is also kept in `events`. Comments (keepalives) are skipped."""
        async for part in self.body_parts():
            self.buffer += part.decode()
            while "\n\n" in self.buffer:
                block, self.buffer = self.buffer.split("\n\n", 1)
                for line in block.splitlines():
                    if line.startswith("data: "):
                        event = json.loads(line[len("data: ") :])
                        self.events.append(event)
                        yield event

    async def read_events(self, timeout: float = REQUEST_TIMEOUT) -> list[dict]:
        """Every remaining event, to the end of the stream; then the connection is closed."""
        async with asyncio.timeout(timeout):
            async for _ in self.sse():
                pass
        self.close()
        return self.events

    async def json(self, timeout: float = REQUEST_TIMEOUT) -> Any:
        async with asyncio.timeout(timeout):
            body = b"".join([part async for part in self.body_parts()])
        self.close()
        return json.loads(body or b"null")

    def close(self) -> None:
        """Hang up, whatever is still coming."""
        self.writer.close()


async def request(
    worker: Worker,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> Response:
    """Send one request on a new connection; returns once the status line and headers are in
    (the body is read from the Response)."""
    raw = b"" if body is None else json.dumps(body).encode()
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {worker.host}",
        "Connection: close",
        f"Content-Length: {len(raw)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if body is not None:
        lines.append("Content-Type: application/json")
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", worker.port)
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + raw)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            writer.close()
            raise ConnectionError(f"{worker.name} closed the connection without answering")
        status = int(status_line.split()[1])
        response_headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            response_headers[name.strip().lower()] = value.strip()
    chunked = response_headers.get("transfer-encoding", "").lower() == "chunked"
    return Response(status, response_headers, reader, writer, chunked)

