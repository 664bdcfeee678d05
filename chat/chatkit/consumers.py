"""`/ws/chat/`: live sync between a user's tabs and devices, and a running turn followed
over a websocket.

A page connects with its session cookie (authenticated on connect); another client sends
`{"type": "auth", "token": "<access token>"}` first. The consumer then joins the user's
group and relays every notice sent to it (`thread.created`, `thread.updated`,
`thread.deleted`, `turn.started`, `turn.finished`). `{"type": "turn.follow", "thread_id"}`
replays the thread's running turn from its first event and follows it live
(`turn.event` messages, then `turn.end`), like GET /chatkit/threads/<id>/resume/.
"""

import asyncio
import json
import logging
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from chatkit.store import NotFoundError

from accounts.jwt import AuthenticationFailed, authenticate_token
from chat.chatkit import broadcast
from chat.chatkit.store import DjangoStore
from chat.chatkit.turns import follow_turn
from chat.context import RequestContext

logger = logging.getLogger(__name__)

# Close codes a client can tell apart (4000-4999 are the application's own).
UNAUTHENTICATED = 4401
# How long a connection may stay without authenticating.
AUTH_TIMEOUT = 10.0

store = DjangoStore()


class ChatConsumer(AsyncJsonWebsocketConsumer):
    user: Any = None

    async def connect(self) -> None:
        self.follows: dict[str, asyncio.Task] = {}
        self.auth_deadline: asyncio.TimerHandle | None = None
        await self.accept()
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self.authenticated(user)
        else:
            self.auth_deadline = asyncio.get_running_loop().call_later(
                AUTH_TIMEOUT, lambda: asyncio.ensure_future(self.close(UNAUTHENTICATED))
            )

    async def authenticated(self, user: Any) -> None:
        if self.auth_deadline is not None:
            self.auth_deadline.cancel()
        self.user = user
        await self.channel_layer.group_add(broadcast.user_group(user.pk), self.channel_name)
        await self.send_json({"type": "ready", "user_id": user.pk})

    async def disconnect(self, code: int) -> None:
        if self.auth_deadline is not None:
            self.auth_deadline.cancel()
        for task in self.follows.values():
            task.cancel()
        if self.user is not None:
            await self.channel_layer.group_discard(
                broadcast.user_group(self.user.pk), self.channel_name
            )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if self.user is None:
            if kind != "auth" or not isinstance(content.get("token"), str):
                await self.close(UNAUTHENTICATED)
                return
            try:
                await self.authenticated(await authenticate_token(content["token"]))
            except AuthenticationFailed as failure:
                await self.send_json({"type": "error", "detail": failure.message})
                await self.close(UNAUTHENTICATED)
            return
        if kind == "turn.follow" and isinstance(content.get("thread_id"), str):
            await self.follow(content["thread_id"])
        else:
            await self.send_json({"type": "error", "detail": "Unknown or malformed message."})

    async def follow(self, thread_id: str) -> None:
        try:
            await store.load_thread(thread_id, RequestContext(user=self.user))
        except NotFoundError:
            await self.send_json({"type": "error", "detail": "Not found.", "thread_id": thread_id})
            return
        events = await follow_turn(thread_id)
        if events is None:
            await self.send_json({"type": "turn.end", "thread_id": thread_id, "running": False})
            return
        if thread_id not in self.follows or self.follows[thread_id].done():
            self.follows[thread_id] = asyncio.create_task(self.relay(thread_id, events))

    async def relay(self, thread_id: str, events: Any) -> None:
        async for chunk in events:
            data = chunk.decode().removeprefix("data: ").strip()
            await self.send_json(
                {"type": "turn.event", "thread_id": thread_id, "event": json.loads(data)}
            )
        await self.send_json({"type": "turn.end", "thread_id": thread_id, "running": True})

    async def chat_event(self, message: dict[str, Any]) -> None:
        """A notice for this user, from broadcast.notify_user."""
        await self.send_json(message["event"])
