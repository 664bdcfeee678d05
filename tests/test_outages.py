"""Outages and hostile bodies against a real daphne worker (tests/daphne.py): with its
PostgreSQL stopped (a private cluster this test starts, never the shared one) the token
API, uploads and downloads answer 503 JSON; a chunked body over the limit gets 413 JSON."""

import asyncio
import json

import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.daphne import launch_worker, request, start_workers, wait_for_port
from tests.instances import PrivatePostgres

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_without_database(transactional_db, tmp_path):
    postgres = PrivatePostgres(tmp_path).start()
    worker = launch_worker(tmp_path, "nodb", DATABASE_URL=postgres.url)
    try:
        wait_for_port(worker)
        postgres.stop()
        yield worker
    finally:
        worker.stop()
        postgres.remove()


@pytest.fixture
def alice_tokens(alice) -> tuple[str, str]:
    """(access, refresh), made before the test's event loop (a refresh token is stored)."""
    return str(AccessToken.for_user(alice)), str(RefreshToken.for_user(alice))


async def body_of(response) -> tuple[dict, str]:
    return await response.json(), response.headers.get("content-type", "")


async def test_with_postgresql_down_the_token_api_and_files_answer_503_json(
    worker_without_database, alice_tokens
):
    worker = worker_without_database
    access, refresh = alice_tokens
    bearer = {"Authorization": f"Bearer {access}"}
    calls = {
        "token": ("POST", "/api/token/", {"username": "alice", "password": "x"}, {}),
        "refresh": (
            "POST",
            "/api/token/refresh/",
            {"refresh": refresh},
            {},
        ),
        "upload": ("POST", "/chatkit/upload/", None, bearer),
        "download": ("GET", "/chatkit/attachments/atc_missing/", None, bearer),
        "chatkit": ("POST", "/chatkit/", {"type": "threads.list", "params": {}}, bearer),
    }
    answers = {}
    for name, (method, path, body, headers) in calls.items():
        response = await request(worker, method, path, body=body, headers=headers)
        answer, content_type = await body_of(response)
        answers[name] = (response.status, content_type, bool(response.headers.get("retry-after")))
        assert "detail" in answer, (name, answer)

    assert answers == {name: (503, "application/json", True) for name in calls}, answers


@pytest.fixture
def small_worker(transactional_db, tmp_path):
    (worker,) = start_workers(tmp_path, {"small": {"CHAT_ATTACHMENT_MAX_BYTES": "1000"}})
    yield worker
    worker.stop()


async def send_chunked(worker, path: str, size: int) -> tuple[int, dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", worker.port)
    try:
        writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {worker.host}\r\nConnection: close\r\n"
                "Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        chunk = b"x" * 65536
        for _ in range(size // len(chunk)):
            writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_a_chunked_body_over_the_limit_gets_413_json(small_worker):
    status, body = await send_chunked(small_worker, "/chatkit/upload/", 2 * 1024 * 1024)

    assert status == 413
    assert "larger than" in body["detail"]


async def test_a_declared_length_over_the_limit_gets_413_json_before_the_body(small_worker):
    reader, writer = await asyncio.open_connection("127.0.0.1", small_worker.port)
    writer.write(
        f"POST /chatkit/ HTTP/1.1\r\nHost: {small_worker.host}\r\nConnection: close\r\n"
        "Content-Length: 2000000\r\n\r\n".encode()
        + b"x" * 2_000_000
    )
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == 413
    assert "larger than" in json.loads(body)["detail"]
