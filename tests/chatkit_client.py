"""A small ChatKit protocol client for tests: requests through Django's AsyncClient."""

import json
from typing import Any

from django.test import AsyncClient
from rest_framework_simplejwt.tokens import AccessToken


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


def user_input(text: str, attachments: list[str] | None = None, **extra: Any) -> dict:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": attachments or [],
        "inference_options": {},
        **extra,
    }


def parse_sse(body: bytes) -> list[dict]:
    """The `data:` events of an SSE body, decoded; comments (keepalives) are skipped."""
    events = []
    for block in body.decode().split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
    return events


class ChatKitClient:
    """Speaks the ChatKit protocol to /chatkit/ as one user."""

    def __init__(self, user: Any, path: str = "/chatkit/") -> None:
        self.client = AsyncClient()
        self.headers = bearer(user)
        self.path = path

    async def post(self, body: Any, headers: dict[str, str] | None = None):
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return await self.client.post(
            self.path,
            raw,
            content_type="application/json",
            headers=self.headers if headers is None else headers,
        )

    async def call(self, type: str, **params: Any) -> tuple[int, Any]:
        """A non-streaming request: (status, decoded JSON)."""
        response = await self.post({"type": type, "params": params})
        return response.status_code, json.loads(response.content or b"null")

    async def stream(self, type: str, metadata: dict | None = None, **params: Any) -> list[dict]:
        """A streaming request that must succeed: its decoded events."""
        body: dict[str, Any] = {"type": type, "params": params}
        if metadata is not None:
            body["metadata"] = metadata
        response = await self.post(body)
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/event-stream")
        return parse_sse(b"".join([chunk async for chunk in response.streaming_content]))

    async def create_thread(self, text: str = "Hello") -> tuple[str, list[dict]]:
        events = await self.stream("threads.create", input=user_input(text))
        return events[0]["thread"]["id"], events

    async def send(self, thread_id: str, text: str) -> list[dict]:
        return await self.stream(
            "threads.add_user_message", thread_id=thread_id, input=user_input(text)
        )


def assistant_text(events: list[dict]) -> str:
    """The final text of the last assistant message in a stream."""
    done = [
        event["item"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message"
    ]
    assert done, f"no assistant message in {[event['type'] for event in events]}"
    return "".join(part["text"] for part in done[-1]["content"])
