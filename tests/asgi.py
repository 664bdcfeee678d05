"""Requests through Django's real ASGI handler, with control over the client's hang-up."""

import asyncio
import json

from django.core.handlers.asgi import ASGIHandler

from tests.chatkit_client import bearer


async def post_over_asgi(
    user, body: dict, disconnect_after_chunks: int | None = None, app=None
):
    """POST /chatkit/ through Django's ASGI handler (or `app`), optionally hanging up
    mid-stream.

    Returns the response body chunks received before the end (or the disconnect).
    """
    raw = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"host", b"testserver"),
        *[(k.lower().encode(), v.encode()) for k, v in bearer(user).items()],
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/chatkit/",
        "raw_path": b"/chatkit/",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    hang_up = asyncio.Event()
    body_sent = False
    chunks: list[bytes] = []

    async def receive():
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])
            # Events, not body chunks: the events that arrive together go out as one chunk.
            events = sum(chunk.count(b"data: ") for chunk in chunks)
            if disconnect_after_chunks is not None and events >= disconnect_after_chunks:
                hang_up.set()

    await asyncio.wait_for((app or ASGIHandler())(scope, receive, send), timeout=30)
    return chunks
