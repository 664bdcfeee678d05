"""The production topology, run for real (deploy/topology.py): Debian's nginx with the
repository's deploy/nginx.conf in front of two daphne workers started with the compose
command and environment, a fresh PostgreSQL database and a private Redis.

A client connecting from 127.0.0.2 plays the TLS proxy in front of nginx (it sends
X-Forwarded-Proto: https and the client's address in X-Forwarded-For); one connecting from
127.0.0.1 is a client on the internet. The tests run in file order on one topology; the
last ones stop Redis and the workers.
"""

import http.client
import json
import re
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import yaml
from django.conf import settings

from chat.assistant.demo_model import demo_reply
from deploy.topology import (
    COMPOSE,
    FRONT_PROXY,
    METRICS_TOKEN,
    NGINX,
    NGINX_CONF,
    ROOT,
    Topology,
    compose_environment,
)
from tests.chatkit_client import user_input

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
CLIENT_ADDRESS = "198.51.100.7"  # the visitor the TLS proxy names
FORGED_ADDRESS = "203.0.113.9"  # what a client claims to be


def postgres_url() -> str | None:
    """A database of this test's own beside the test database, on the same server."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return None
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    user = database.get("USER") or "postgres"
    name = f"{database['NAME']}_topology"
    if not name.startswith("test_"):
        name = f"test_{name}"
    return f"postgres://{user}@{host}:{port}/{name}"


pytestmark = [
    pytest.mark.skipif(not Path(NGINX).exists(), reason="Debian's nginx is not installed"),
    pytest.mark.skipif(postgres_url() is None, reason="the topology runs on PostgreSQL"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    topology = Topology(
        tmp_path_factory.mktemp("topology"),
        postgres_url(),
        extra_env={"CHAT_DEMO_WORD_DELAY": "0.05", "CHAT_SHUTDOWN_GRACE_SECONDS": "1"},
    )
    topology.start()
    yield topology
    topology.stop()
    topology.drop_database()


# --- a small HTTP client, from a chosen source address -------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


def connect(site: Topology, source: str, port: int | None = None) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(
        "127.0.0.1", port or site.port, timeout=30, source_address=(source, 0)
    )


def fetch(
    site: Topology,
    method: str,
    path: str,
    *,
    via_proxy: bool = True,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    port: int | None = None,
) -> Answer:
    """One request. Through the TLS proxy (from 127.0.0.2, with its headers) unless
    `via_proxy` is off; to nginx unless `port` names a worker."""
    connection = connect(site, FRONT_PROXY if via_proxy else "127.0.0.1", port)
    sent = dict(headers or {})
    if via_proxy:
        sent.setdefault("X-Forwarded-Proto", "https")
        sent.setdefault("X-Forwarded-For", CLIENT_ADDRESS)
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def cookies_of(answer: Answer) -> dict[str, str]:
    jar = SimpleCookie()
    for header in answer.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def multipart(filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
        f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def log_lines(site: Topology) -> list[dict]:
    """Every line both workers wrote, each a JSON object (the compose LOG_FORMAT)."""
    lines = []
    for name, text in site.worker_logs().items():
        for line in text.splitlines():
            if line.strip():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    pytest.fail(f"{name} wrote a line that is not JSON: {line!r}")
    return lines


def requests_logged(site: Topology, path: str) -> list[dict]:
    return [line["http"] for line in log_lines(site) if line.get("http", {}).get("path") == path]


# --- start-up --------------------------------------------------------------------------------


def test_three_concurrent_migration_jobs_all_succeed_and_one_applies(site):
    outputs = [run.stdout for run in site.migrations]

    assert [run.returncode for run in site.migrations] == [0, 0, 0], outputs
    assert sum("Applying chat." in output for output in outputs) == 1
    assert sum("No migrations to apply." in output for output in outputs) == 2


def test_check_deploy_is_clean_with_the_documented_production_environment(site):
    """docker-compose.yml's environment with the TLS values its header documents."""
    env = {
        **site.env,
        **compose_environment(
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="chat.example.com",
            CSRF_TRUSTED_ORIGINS="https://chat.example.com",
            SECURE_SSL_REDIRECT="1",
        ),
        "DATABASE_URL": site.database_url,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_compose_waits_for_health_restarts_and_outlasts_the_turn_grace():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    grace = float(compose_environment()["CHAT_SHUTDOWN_GRACE_SECONDS"])

    assert float(services["web"]["stop_grace_period"].rstrip("s")) > grace
    assert services["web"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert services["web"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["command"][2] == "migrate_locked"
    for name, service in services.items():
        if name != "migrate":
            assert service["restart"] == "unless-stopped", name
            assert service["deploy"]["resources"]["limits"], name
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD"))
    assert "migrate" not in cmd


# --- through nginx ---------------------------------------------------------------------------


def test_pages_and_hashed_static_files_cached_for_good_and_compressed(site):
    page = fetch(site, "GET", "/")
    script = re.search(r'src="(/static/chat/main\.[0-9a-f]{12}\.js)"', page.body.decode())

    assert page.status == 200
    assert script, page.body[:500]
    static = fetch(site, "GET", script.group(1), headers={"Accept-Encoding": "gzip"})
    assert static.status == 200
    assert static.headers["Content-Type"].startswith("text/javascript")
    assert static.headers["Content-Encoding"] == "gzip"
    assert "immutable" in static.headers["Cache-Control"]
    assert "max-age=315360000" in static.headers["Cache-Control"]


def test_the_scripts_modules_are_imported_by_their_hashed_names_too(site):
    """A deploy cannot mix new and old modules: what main.js imports is hashed as well."""
    page = fetch(site, "GET", "/")
    script = re.search(r'src="(/static/chat/main\.[0-9a-f]{12}\.js)"', page.body.decode())
    main = fetch(site, "GET", script.group(1)).body.decode()
    imported = re.findall(r'from "(\./[^"]+)"', main)

    assert imported and all(re.search(r"\.[0-9a-f]{12}\.js$", name) for name in imported)
    module = fetch(site, "GET", "/static/chat/" + imported[0][2:])
    assert module.status == 200 and "immutable" in module.headers["Cache-Control"]


def test_nginx_compresses_javascript_itself_too():
    """Responses the site sends uncompressed (a script built per request, a JSON answer)
    are compressed by nginx when they are text/javascript."""
    config = NGINX_CONF.read_text()
    gzip_types = re.search(r"gzip_types([^;]+);", config).group(1).split()

    assert "text/javascript" in gzip_types
    assert "application/json" in gzip_types


def test_nginx_looks_the_workers_up_again_while_running():
    """A proxy_pass naming its upstream through a variable is resolved at run time by the
    `resolver`, again once `valid` runs out: replicas added by scaling are seen."""
    config = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text())  # directives only
    resolver = re.search(r"^resolver (\S+) valid=(\d+)s", config, re.M)

    assert resolver and resolver.group(1) == "127.0.0.11"  # Docker's DNS
    assert int(resolver.group(2)) <= 30
    assert "set $site_upstream http://web:8000;" in config
    passes = re.findall(r"proxy_pass ([^;]+);", config)
    assert passes and set(passes) == {"$site_upstream"}
    assert not re.search(r"^\s*upstream ", config, re.M)  # resolved once, at start


def test_https_from_the_tls_proxy_is_kept_and_a_clients_claim_is_not(site):
    proxied = fetch(site, "GET", "/about/")
    claimed = fetch(
        site, "GET", "/about/", via_proxy=False, headers={"X-Forwarded-Proto": "https"}
    )

    assert proxied.status == 200  # no redirect, so no loop behind TLS
    assert claimed.status == 301
    # The port stays in Host: the redirect goes back to the address the client used.
    assert claimed.headers["Location"] == f"https://{site.address}/about/"


def test_a_client_cannot_choose_its_logged_address(site):
    forged_path = f"/forged-{uuid.uuid4().hex}/"
    proxied_path = f"/proxied-{uuid.uuid4().hex}/"

    fetch(site, "GET", forged_path, via_proxy=False, headers={"X-Forwarded-For": FORGED_ADDRESS})
    fetch(site, "GET", proxied_path)

    (forged,) = requests_logged(site, forged_path)
    (proxied,) = requests_logged(site, proxied_path)
    assert forged["client"] == "127.0.0.1"
    assert proxied["client"] == CLIENT_ADDRESS  # the TLS proxy's word counts


@pytest.fixture(scope="module")
def account(site) -> dict:
    """Signed up through nginx (a CSRF-checked form over HTTPS with the port in Host),
    then a session token and a token pair."""
    form = fetch(site, "GET", "/accounts/signup/")
    csrf = cookies_of(form)["csrftoken"]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.body.decode()).group(1)
    username, password = f"u{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    signed_up = fetch(
        site,
        "POST",
        "/accounts/signup/",
        body=urlencode(
            {"username": username, "password1": password, "password2": password,
             "csrfmiddlewaretoken": token}
        ).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf}",
            "Origin": f"https://{site.address}",
            "Referer": f"https://{site.address}/accounts/signup/",
        },
    )
    assert signed_up.status == 302, signed_up.body[:2000]
    session = cookies_of(signed_up)["sessionid"]
    exchanged = fetch(
        site,
        "POST",
        "/api/token/session/",
        headers={
            "Cookie": f"csrftoken={csrf}; sessionid={session}",
            "X-CSRFToken": csrf,
            "Origin": f"https://{site.address}",
            "Referer": f"https://{site.address}/",
        },
    )
    assert exchanged.status == 200, exchanged.body
    pair = fetch(
        site,
        "POST",
        "/api/token/",
        body=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert pair.status == 200, pair.body
    return {"username": username, "access": pair.json()["access"],
            "session_access": exchanged.json()["access"], "csrf": csrf, "session": session}


def test_signup_session_token_and_token_pair_work_through_nginx(account):
    assert account["access"] and account["session_access"]


def test_an_answer_streams_through_nginx_as_it_is_written(site, account):
    """The first words arrive while the answer is still being written: a stop sent then
    cuts it short. (Were nginx buffering, the first words would come with the last.)"""
    text = "Stream me through nginx"
    connection = connect(site, FRONT_PROXY)
    connection.request(
        "POST",
        "/chatkit/",
        body=json.dumps({"type": "threads.create", "params": {"input": user_input(text)}}),
        headers={
            "Authorization": f"Bearer {account['session_access']}",
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",
        },
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    thread_id, written, stopped = None, "", None
    while line := response.readline():
        if not line.startswith(b"data: "):
            continue
        event = json.loads(line[len(b"data: "):])
        if event["type"] == "thread.created":
            thread_id = event["thread"]["id"]
        if event["type"] == "thread.item.updated" and event["update"]["type"].endswith("delta"):
            written += event["update"]["delta"]
            if stopped is None:
                stopped = fetch(
                    site, "POST", f"/chatkit/threads/{thread_id}/stop/",
                    headers={"Authorization": f"Bearer {account['session_access']}"},
                )
    connection.close()

    assert stopped is not None and stopped.status == 200
    assert stopped.json() == {"stopped": True}
    full = demo_reply([{"role": "user", "content": text}])
    assert written and full.startswith(written) and len(written) < len(full)


def test_upload_through_nginx_is_downloaded_from_either_worker(site, account):
    body, content_type = multipart("dot.png", PNG, "image/png")
    uploaded = fetch(
        site, "POST", "/chatkit/upload/", body=body,
        headers={"Authorization": f"Bearer {account['access']}", "Content-Type": content_type},
    )

    assert uploaded.status == 200, uploaded.body
    preview = urlsplit(uploaded.json()["preview_url"])
    # Signed links name the address the client used, port and scheme included.
    assert f"{preview.scheme}://{preview.netloc}" == f"https://{site.address}"
    link = f"{preview.path}?{preview.query}"
    for port in site.worker_ports:
        downloaded = fetch(site, "GET", link, port=port)
        assert downloaded.status == 200
        assert downloaded.body == PNG


def test_nginx_refuses_a_too_large_body_with_json(site, account):
    limit = re.search(r"client_max_body_size (\d+)m;", NGINX_CONF.read_text()).group(1)
    body = b"x" * ((int(limit) + 1) * 1024 * 1024)

    refused = fetch(
        site, "POST", "/chatkit/upload/", body=body,
        headers={"Authorization": f"Bearer {account['access']}",
                 "Content-Type": "application/octet-stream"},
    )

    assert refused.status == 413
    assert refused.headers["Content-Type"] == "application/json"
    assert "too large" in refused.json()["detail"]


def test_metrics_need_their_token_and_count_what_happened(site):
    anonymous = fetch(site, "GET", "/metrics")
    scraped = [
        fetch(site, "GET", "/metrics", port=port,
              headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        for port in site.worker_ports
    ]

    assert anonymous.status == 401
    assert all(answer.status == 200 for answer in scraped)
    text = b"".join(answer.body for answer in scraped).decode()
    assert 'chat_turns_total{outcome="stopped"} 1.0' in text
    assert "chat_time_to_first_token_seconds_count" in text


def test_every_log_line_is_json_with_the_requests_and_the_turn(site, account):
    lines = log_lines(site)

    turns = [line["chatkit"] for line in lines if "chatkit" in line]
    stopped = [turn for turn in turns if turn["status"] == "200/stopped"]
    assert len(stopped) == 1
    assert stopped[0]["type"] == "threads.create"
    assert stopped[0]["model"] == "demo"
    assert stopped[0]["thread"].startswith("thr_")
    assert any(line.get("http", {}).get("route") == "/chatkit/upload/" for line in lines)


def test_the_health_check_works_with_the_real_allowed_hosts(site):
    """The image's HEALTHCHECK against a worker whose ALLOWED_HOSTS does not name the
    address the check uses (localhost is not 127.0.0.1 to the host check)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "deploy/healthcheck.py"]' in dockerfile
    port = site.worker_ports[0]
    assert fetch(site, "GET", "/", port=port, headers={"Host": "chat.invalid"}).status == 400

    result = subprocess.run(
        [sys.executable, "deploy/healthcheck.py"],
        cwd=ROOT,
        env={"HEALTHCHECK_URL": f"http://localhost:{port}/healthz/"},
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 0, result.stderr


def test_backup_and_restore_bring_the_data_back(site, account, tmp_path):
    import psycopg

    backup = tmp_path / "chat.dump"
    script = [str(ROOT / "deploy" / "pg-backup.sh")]
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "DATABASE_URL": site.database_url}

    def items() -> int:
        with psycopg.connect(site.database_url) as connection:
            return connection.execute("SELECT count(*) FROM chat_threaditem").fetchone()[0]

    before = items()
    made = subprocess.run([*script, "backup", str(backup)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    with psycopg.connect(site.database_url) as connection:
        connection.execute("DELETE FROM chat_threaditem")
    assert items() == 0 < before
    restored = subprocess.run([*script, "restore", str(backup)], env=env, capture_output=True,
                              text=True, timeout=120)

    assert restored.returncode == 0, restored.stderr
    assert items() == before


def test_database_connections_stay_bounded_under_300_requests(site, account):
    """300 requests through nginx, 10 at a time, over pages, session tokens (a sync view
    reading the session) and the ChatKit API (async, through the pool): the workers hold
    no more connections than their pools allow (CHAT_DB_POOL_SIZE each, plus one)."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    def one(number: int) -> int:
        kind = number % 3
        if kind == 0:
            return fetch(site, "GET", "/about/").status
        if kind == 1:
            return fetch(
                site, "POST", "/api/token/session/",
                headers={
                    "Cookie": f"csrftoken={account['csrf']}; sessionid={account['session']}",
                    "X-CSRFToken": account["csrf"],
                    "Origin": f"https://{site.address}",
                },
            ).status
        return fetch(
            site, "POST", "/chatkit/",
            body=json.dumps({"type": "threads.list", "params": {}}).encode(),
            headers={"Authorization": f"Bearer {account['access']}",
                     "Content-Type": "application/json"},
        ).status

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(one, range(300)))
    with psycopg.connect(site.database_url) as connection:
        open_connections = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchone()[0]

    assert set(statuses) == {200}
    pool_size = int(site.env.get("CHAT_DB_POOL_SIZE", "10"))
    assert open_connections <= site.workers * (pool_size + 1)


# --- faults (last: they stop Redis, then the workers) ------------------------------------------


def test_readyz_names_a_stopped_redis(site):
    healthy = fetch(site, "GET", "/readyz/")
    site.stop_redis()
    down = fetch(site, "GET", "/readyz/")
    alive = fetch(site, "GET", "/healthz/")

    assert healthy.status == 200
    assert down.status == 503
    assert down.headers["Content-Type"] == "application/json"
    assert down.json()["down"] == ["channel_layer", "redis"]
    assert down.json()["database"] == "ok"
    assert alive.status == 200  # liveness does not depend on Redis


def test_nginx_answers_json_when_no_worker_does(site):
    site.stop_workers()

    answer = fetch(site, "GET", "/")

    assert answer.status == 502
    assert answer.headers["Content-Type"] == "application/json"
    assert "temporarily unavailable" in answer.json()["detail"]
