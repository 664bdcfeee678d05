"""The production topology of docker-compose.yml, run on one machine with plain processes.

Debian's nginx (`/usr/sbin/nginx`, in the foreground, with a scratch prefix) serves the
repository's own deploy/nginx.conf in front of daphne workers started with the compose
file's command and environment; PostgreSQL gets a fresh database, migrated by three
concurrent `manage.py migrate_locked` runs (the compose `migrate` job, started three times
at once); Redis is a private `redis-server`, so it can be stopped to see what the site
does without it. Only addresses differ from compose:

- `listen 80` -> a free loopback port; `web:8000` -> the workers' loopback ports;
- the TLS proxy's address (172.28.0.10) -> 127.0.0.2: a client connecting from 127.0.0.2
  plays the TLS proxy in front of nginx, one from 127.0.0.1 a client on the internet.

tests/test_deployment.py checks the site through it. By hand:

    python deploy/topology.py   # prints the address, serves until Ctrl-C

Standard library (plus psycopg and PyYAML, which the project's tests already use) only.
"""

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX = "/usr/sbin/nginx"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
COMPOSE = ROOT / "docker-compose.yml"
TLS_PROXY_ADDRESS = "172.28.0.10"  # the `tls` service in docker-compose.yml
FRONT_PROXY = "127.0.0.2"  # plays it here
METRICS_TOKEN = "topology-metrics-token"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}:\n{log.read_text(errors='replace')}")


def compose_environment(**variables: str) -> dict[str, str]:
    """The `x-site-environment` of docker-compose.yml, `${NAME:-default}` filled from
    `variables` (else the default, else empty)."""
    import yaml

    environment = yaml.safe_load(COMPOSE.read_text())["x-site-environment"]
    pattern = re.compile(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}")

    def fill(value: object) -> str:
        return pattern.sub(
            lambda m: variables.get(m.group(1)) or m.group(2) or "", str(value)
        )

    return {name: fill(value) for name, value in environment.items()}


def compose_command(service: str, **addresses: str) -> list[str]:
    """A compose service's command, with this machine's programs and addresses."""
    import yaml

    command = yaml.safe_load(COMPOSE.read_text())["services"][service]["command"]
    programs = {"python": sys.executable}
    return [addresses.get(part, programs.get(part, part)) for part in command]


def site_conf(port: int, upstream: str) -> str:
    """deploy/nginx.conf with only its addresses replaced."""
    text = NGINX_CONF.read_text()
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{port};",
        "http://web:8000": f"http://{upstream}",
        TLS_PROXY_ADDRESS: FRONT_PROXY,
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


MAIN_CONF = """
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/access.log;
    client_body_temp_path {folder}/temp/body;
    proxy_temp_path {folder}/temp/proxy;
    fastcgi_temp_path {folder}/temp/fastcgi;
    uwsgi_temp_path {folder}/temp/uwsgi;
    scgi_temp_path {folder}/temp/scgi;
    # What Docker's DNS answers for `web`: every worker.
    upstream workers {{
{servers}
    }}
    include {folder}/site.conf;
}}
"""


@dataclass
class Process:
    name: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Topology:
    folder: Path
    database_url: str  # a database of its own; created afresh (dropped first)
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    redis_port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    migrations: list[subprocess.CompletedProcess] = field(default_factory=list)
    processes: dict[str, Process] = field(default_factory=dict)
    worker_ports: list[int] = field(default_factory=list)
    nginx_folder: Path | None = None

    # --- start ---------------------------------------------------------------------------

    def start(self) -> "Topology":
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.create_database()
            self.start_redis()
            self.env = self.site_environment()
            self.migrate_three_at_once()
            self.collectstatic()
            for number in range(self.workers):
                self.start_worker(f"web{number + 1}")
            self.start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def create_database(self) -> None:
        import psycopg

        server, _, name = self.database_url.rpartition("/")
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self) -> None:
        import psycopg

        server, _, name = self.database_url.rpartition("/")
        with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def start_redis(self) -> None:
        self.redis_port = free_port()
        log = self.folder / "redis.log"
        process = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.processes["redis"] = Process("redis", process, log)
        wait_for_port(self.redis_port, process, log)

    def site_environment(self) -> dict[str, str]:
        """The compose environment, with this machine's addresses and folders."""
        self.port = free_port()
        env = compose_environment(SECRET_KEY=secrets.token_urlsafe(50))
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            MEDIA_ROOT=str(self.folder / "media"),  # the compose `media` volume, shared
            STATIC_ROOT=str(self.folder / "static"),  # the image's collected files
            ALLOWED_HOSTS="127.0.0.1,localhost",
            CSRF_TRUSTED_ORIGINS=f"https://127.0.0.1:{self.port}",
            SECURE_SSL_REDIRECT="1",  # as behind the TLS service
            METRICS_TOKEN=METRICS_TOKEN,
        )
        env.update(self.extra_env)
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_"))},
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            **env,
        }

    def manage(self, *args: str, **env: str) -> subprocess.Popen:
        """`python manage.py ARGS` with the site's environment."""
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def migrate_three_at_once(self) -> None:
        """The compose `migrate` job, started three times together on the fresh database."""
        command = compose_command("migrate")
        assert command[1] == "manage.py", command
        runs = [self.manage(*command[2:]) for _ in range(3)]
        for run in runs:
            output, _ = run.communicate(timeout=300)
            self.migrations.append(
                subprocess.CompletedProcess(run.args, run.returncode, output, "")
            )

    def collectstatic(self) -> None:
        run = self.manage("collectstatic", "--noinput", "--verbosity", "0")
        output, _ = run.communicate(timeout=300)
        if run.returncode:
            raise RuntimeError(f"collectstatic failed:\n{output}")

    def start_worker(self, name: str) -> None:
        """The compose `web` command on a loopback port."""
        port = free_port()
        log = self.folder / f"{name}.log"
        command = compose_command("web", **{"0.0.0.0": "127.0.0.1", "8000": str(port)})
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = Process(name, process, log)
        self.worker_ports.append(port)
        wait_for_port(port, process, log)

    def start_nginx(self) -> None:
        # A folder of its own that nginx's workers (`nobody` when started as root) can
        # reach, for the request bodies they spool to disk.
        nginx = Path(tempfile.mkdtemp(prefix="nginx-"))
        self.nginx_folder = nginx
        os.chmod(nginx, 0o755)
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (nginx / "temp" / temp).mkdir(parents=True, exist_ok=True)
            os.chmod(nginx / "temp" / temp, 0o777)
        servers = "\n".join(f"        server 127.0.0.1:{port};" for port in self.worker_ports)
        (nginx / "site.conf").write_text(site_conf(self.port, "workers"))
        (nginx / "nginx.conf").write_text(MAIN_CONF.format(folder=nginx, servers=servers))
        command = [NGINX, "-p", str(nginx), "-c", str(nginx / "nginx.conf"),
                   "-e", str(nginx / "error.log")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        if checked.returncode:
            raise RuntimeError(f"nginx -t failed:\n{checked.stderr}")
        log = nginx / "stderr.log"
        process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
        self.processes["nginx"] = Process("nginx", process, log)
        wait_for_port(self.port, process, log)

    # --- use ------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def worker_logs(self) -> dict[str, str]:
        return {
            name: process.text()
            for name, process in self.processes.items()
            if name.startswith("web")
        }

    def stop_redis(self) -> None:
        self.processes["redis"].stop()

    def stop_workers(self) -> None:
        for name, process in self.processes.items():
            if name.startswith("web"):
                process.stop()

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        if self.nginx_folder is not None:
            shutil.rmtree(self.nginx_folder, ignore_errors=True)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="topology-"))
    url = os.environ.get("TOPOLOGY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/topology")
    topology = Topology(folder, url).start()
    print(f"http://{topology.address}/ (logs in {folder}); Ctrl-C stops it", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        topology.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
