"""chatsite.bodylimit.BodyLimit, the ASGI door: oversized bodies (declared or chunked) get
413 JSON and multipart bodies with too many parts 400 JSON, before the application runs."""

import json

import pytest
from asgiref.testing import ApplicationCommunicator

from chatsite.bodylimit import BodyLimit, body_limit


async def app(scope, receive, send):
    """Echoes the size of the body it received."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.dumps({"received": size}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def call(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, dict]:
    scope = {"type": "http", "method": "POST", "path": "/x/", "headers": headers}
    communicator = ApplicationCommunicator(BodyLimit(app), scope)
    for index, chunk in enumerate(chunks):
        await communicator.send_input(
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        )
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    await communicator.wait(5)
    return start["status"], json.loads(body["body"])


def multipart(parts: int, boundary: bytes = b"bnd") -> bytes:
    part = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n'
    return part * parts + b"--" + boundary + b"--\r\n"


@pytest.mark.django_db
async def test_a_declared_length_over_the_limit_is_refused_unread():
    status, body = await call([(b"content-length", str(body_limit() + 1).encode())], [b""])
    assert status == 413 and "larger than" in body["detail"]


@pytest.mark.django_db
async def test_a_chunked_body_over_the_limit_is_refused():
    chunk = b"x" * (1 << 20)
    chunks = [chunk] * (body_limit() // len(chunk) + 2)
    status, body = await call([], chunks)
    assert status == 413


@pytest.mark.django_db
async def test_a_multipart_body_with_too_many_parts_is_refused(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    headers = [(b"content-type", b'multipart/form-data; boundary="bnd"')]

    refused = await call(headers, [multipart(16)])
    accepted = await call(headers, [multipart(15)])

    assert refused == (400, {"detail": "The request has too many parts (at most 15)."})
    assert accepted == (200, {"received": len(multipart(15))})


@pytest.mark.django_db
async def test_a_bad_content_length_is_400():
    status, body = await call([(b"content-length", b"ten")], [b""])
    assert status == 400 and "Content-Length" in body["detail"]
