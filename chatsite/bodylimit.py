"""Refuse an oversized request body at the door, before Django reads or parses it.

nginx (deploy/nginx.conf) refuses bodies over `client_max_body_size`; a worker reached
directly (or behind another proxy) refuses them here too, with the site's JSON answer
instead of a page: a declared `Content-Length` over the limit gets 413 at once, a
chunked body (no length) is counted as it is received and gets 413 as soon as it passes
the limit. A `Content-Length` that is not a number gets 400. A multipart body with more
parts than Django would accept (DATA_UPLOAD_MAX_NUMBER_FIELDS + _FILES) gets 400 here,
counted with one `bytes.count` instead of Django's part-by-part parse.

The limit is the largest accepted attachment (CHAT_ATTACHMENT_MAX_BYTES) plus room for
the multipart framing and a few form fields (BODY_OVERHEAD): no legitimate request of
the site is larger. Too many fields or files in a body that fits are Django's to refuse
(DATA_UPLOAD_MAX_NUMBER_FIELDS / _FILES; chatsite/errors.py answers 400 JSON).
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Multipart boundaries, part headers and small fields on top of the largest file.
BODY_OVERHEAD = 1024 * 1024


def body_limit() -> int:
    """Read per request, so a settings override takes effect at once."""
    from chat.conf import app_settings

    return app_settings.ATTACHMENT_MAX_BYTES + BODY_OVERHEAD


async def refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def max_parts() -> int | None:
    """Fields plus files Django accepts in one body; None when either is unlimited."""
    from django.conf import settings

    fields, files = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS, settings.DATA_UPLOAD_MAX_NUMBER_FILES
    return None if fields is None or files is None else fields + files


def multipart_boundary(scope: Scope) -> bytes | None:
    """The boundary of a `multipart/form-data` body; None for any other body."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-type":
            kind, _, params = value.partition(b";")
            if kind.strip().lower() != b"multipart/form-data":
                return None
            for param in params.split(b";"):
                key, _, found = param.strip().partition(b"=")
                if key.strip().lower() == b"boundary" and found.strip(b' "'):
                    return found.strip(b' "')
    return None


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length; None when it sends none; ValueError when malformed."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            length = int(value.strip())
            if length < 0:
                raise ValueError(value)
            return length
    return None


class BodyLimit:
    """ASGI middleware: 413 JSON for an HTTP request body over `body_limit()`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit()
        too_large = f"The request body is larger than {limit} bytes."
        try:
            length = declared_length(scope)
        except ValueError:
            return await refuse(send, 400, "The Content-Length header is not a number.")
        if length is not None and length > limit:
            return await refuse(send, 413, too_large)
        boundary = multipart_boundary(scope)
        if length is not None and boundary is None:
            return await self.app(scope, receive, send)
        # No length (chunked), or multipart: take the body in, counting, then hand it on as
        # received.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await refuse(send, 413, too_large)
            if not message.get("more_body", False):
                break

        parts_limit = max_parts()
        if boundary is not None and parts_limit is not None:
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
            if body.count(b"--" + boundary) - 1 > parts_limit:
                return await refuse(
                    send, 400, f"The request has too many parts (at most {parts_limit})."
                )

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)
