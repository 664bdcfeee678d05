"""The README's commands work as printed, in a fresh copy of the project.

The copy holds what a clone would (the files git tracks or would track, no `.env`, no
database), with the shared virtualenv linked in as `.venv`. The test runs `make run` there
(minus the install step: the virtualenv is already complete), then every command block the
README marks `<!-- readme-test: run -->`, exactly as written, from the project folder, in
an environment with none of the project's variables set: only `.env` configures it. The
only change is the port, so the site does not clash with anything on 8000.

Every `manage.py` command the README prints must be in such a block, unless it deletes
(`--yes`), asks questions, or runs in another environment (Docker, cron, systemd).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARK = "<!-- readme-test: run -->"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
# Variables a developer's shell or the test run may have set that a fresh terminal has not.
PROJECT_VARIABLES = re.compile(
    r"^(DATABASE_URL|DATABASE_CONN_MAX_AGE|DEBUG|SECRET_KEY|DJANGO_SETTINGS_MODULE|ENV_FILE|"
    r"REDIS_URL|CACHE_KEY_PREFIX|MEDIA_ROOT|ALLOWED_HOSTS|PORT|DEMO_\w+|CHAT_\w+|JWT_\w+|"
    r"OPENAI_\w+|PYTHONPATH|VIRTUAL_ENV|MAKEFLAGS|MFLAGS|MAKELEVEL)$"
)
# Commands in blocks that are not run, and why that is fine.
NOT_RUN = re.compile(r"--yes|createsuperuser|docker compose|^\d|ExecStart")


def readme_blocks() -> list[tuple[bool, str, str]]:
    """(marked to run, language, text) of every fenced block of the README."""
    text = README.read_text()
    return [
        (text[: match.start()].rstrip().endswith(MARK), match[1], match[2])
        for match in FENCE.finditer(text)
    ]


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not
            line.strip().startswith("#")]


def fresh_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items()
            if not PROJECT_VARIABLES.match(name)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The project as a fresh clone has it, with the virtualenv linked in."""
    target = tmp_path_factory.mktemp("clone") / "chatsite"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if name == ".venv" or not source.is_file() or name.startswith(".venv/"):
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    (target / ".venv").symlink_to((ROOT / ".venv").resolve())
    assert not (target / ".env").exists() and not (target / "db.sqlite3").exists()
    return target


@pytest.fixture(scope="module")
def served(clone) -> int:
    """`make run` in the copy, on a free port; stopped (its whole process group) after."""
    port = free_port()
    log = (clone / "make-run.log").open("w")
    server = subprocess.Popen(
        ["make", "-o", "install", "run", f"PORT={port}"],
        cwd=clone, env=fresh_environment(), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"make run exited: {(clone / 'make-run.log').read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"not serving: {(clone / 'make-run.log').read_text()}")
                time.sleep(0.5)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def run_block(clone: Path, port: int, block: str) -> subprocess.CompletedProcess:
    script = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone, env=fresh_environment(), capture_output=True, text=True, timeout=300,
    )


def test_every_printed_manage_command_is_run_or_named_as_not(clone):
    unchecked = [
        command
        for marked, _, block in readme_blocks()
        if not marked
        for command in commands(block)
        if ("manage.py" in command or "make manage" in command) and not NOT_RUN.search(command)
    ]
    assert unchecked == []


def test_the_readme_commands_work_as_printed(clone, served):
    marked = [block for run, _, block in readme_blocks() if run]
    assert len(marked) >= 3
    outputs = []
    for block in marked:
        result = run_block(clone, served, block)
        assert result.returncode == 0, f"{block}\n--- stdout\n{result.stdout}\n--- stderr\n" \
            f"{result.stderr}"
        outputs.append(result.stdout + result.stderr)
    everything = "\n".join(outputs)
    # The API example got a token (step 1 set ACCESS) and a streamed answer.
    assert "thread.created" in everything and "thread.item.done" in everything
    assert "is staff and in \"Conversation reviewers\"" in everything
    assert "Threads: 0, items: 0" in everything  # the purge dry runs' summary line
    assert (clone / "demo.jsonl").exists() and (clone / "demo.md").exists()


def test_make_run_wrote_env_once_and_keeps_the_demo_password(clone, served):
    env = (clone / ".env").read_text()
    assert re.search(r"^SECRET_KEY=\S{40,}$", env, re.M) and "DEBUG=1" in env
    assert (clone / ".gitignore").read_text().count("/.env") == 1
    # A second `make run` step neither rewrites .env nor resets the password.
    subprocess.run(["make", "-o", "install", ".env"], cwd=clone, env=fresh_environment(),
                   check=True, capture_output=True)
    assert (clone / ".env").read_text() == env
    again = subprocess.run(
        [".venv/bin/python", "manage.py", "ensure_demo_user"], cwd=clone,
        env=fresh_environment(), capture_output=True, text=True, check=True,
    )
    assert "its password was not changed" in again.stdout
