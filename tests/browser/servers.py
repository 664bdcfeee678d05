"""The real site as separate daphne processes on loopback ports, for browser tests."""

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.browser.site import CDN_URL, WIDGET_TIMEOUT
from tests.instances import free_port

BASE_DIR = Path(__file__).resolve().parents[2]
# daphne on uvloop, as production runs it (chatsite/worker.py).
WORKER = [str(BASE_DIR / ".venv" / "bin" / "python"), "-m", "chatsite.worker"]


@dataclass
class LiveSite:
    url: str
    log_path: Path
    media_root: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode} before serving")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not answer on port {port} within {timeout} s")


def start_site(
    folder: Path, database_url: str, **settings: str
) -> tuple[subprocess.Popen, LiveSite]:
    """daphne serving chatsite.asgi on the given database, `settings` in its environment;
    its log and uploaded files go into `folder`."""
    port = free_port()
    log_path, media_root = folder / "daphne.log", folder / "media"
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHAT_WIDGET_TIMEOUT": str(WIDGET_TIMEOUT),
        "CHAT_CDN_URL": CDN_URL,
        "PYTHONUNBUFFERED": "1",
        "MEDIA_ROOT": str(media_root),
        **settings,
    }
    # The tests may set it for Playwright's sake; the site must stay as strict as in use.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*WORKER, "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process)
    except Exception:
        stop_site(process)
        raise
    return process, LiveSite(
        url=f"http://127.0.0.1:{port}", log_path=log_path, media_root=media_root
    )


def stop_site(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
