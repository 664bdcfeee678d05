"""The ChatKit endpoint's own handler (chatsite/endpoint_handler.py): the middleware of
pages left out, everything else kept, through the worker's real ASGI application."""

import asyncio
import json

import pytest

from chatsite.asgi import application
from chatsite.endpoint_handler import PAGE_MIDDLEWARE, endpoint_middleware
from tests.chatkit_client import bearer, user_input

pytestmark = pytest.mark.django_db(transaction=True)


async def request(
    method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request through `chatsite.asgi.application`: status, headers, body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-length", str(len(body)).encode()),
            *[(name.lower().encode(), value.encode()) for name, value in headers.items()],
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = False
    answer: dict = {"headers": {}, "body": b""}

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays: Django listens for a hang-up


    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await application(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]


def chatkit(user, payload: dict, **headers: str) -> tuple:
    body = json.dumps(payload).encode()
    return request(
        "POST", "/chatkit/", {**bearer(user), "Content-Type": "application/json", **headers}, body
    )


def test_the_endpoint_leaves_out_only_the_middleware_of_pages(settings):
    kept = endpoint_middleware()

    assert kept == [path for path in settings.MIDDLEWARE if path not in PAGE_MIDDLEWARE]
    assert PAGE_MIDDLEWARE <= set(settings.MIDDLEWARE)  # each name is a real entry
    for still_there in (
        "chatsite.observability.RequestObservabilityMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "corsheaders.middleware.CorsMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "chatsite.middleware.DatabaseUnavailableMiddleware",
    ):
        assert still_there in kept


async def test_an_endpoint_answer_keeps_its_security_headers_and_sets_no_cookie(alice):
    status, headers, body = await chatkit(alice, {"type": "threads.list", "params": {}})

    assert status == 200, body
    assert json.loads(body)["data"] == []
    assert headers["content-length"] == str(len(body))
    assert headers["x-content-type-options"] == "nosniff"
    assert "referrer-policy" in headers
    assert "set-cookie" not in headers
    assert "x-frame-options" not in headers  # a page's header: nothing frames JSON


async def test_an_endpoint_refusal_speaks_the_requests_language(alice):
    too_many = [f"atc_{n}" for n in range(6)]
    payload = {"type": "threads.create", "params": {"input": user_input("Salut", too_many)}}

    status, _, body = await chatkit(alice, payload, **{"Accept-Language": "fr"})

    assert status == 400
    assert json.loads(body)["detail"] == "Un message peut contenir au plus 5 pièces jointes."


async def test_pages_still_get_every_middleware(alice):
    status, headers, _ = await request("GET", "/accounts/login/", {})

    assert status == 200
    assert headers["x-frame-options"] == "DENY"
    assert "csrftoken" in headers.get("set-cookie", "")
