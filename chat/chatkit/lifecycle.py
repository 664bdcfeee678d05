"""A worker's life with turns: what starts with its first request, and how it stops.

On the first request the worker starts sweeping lost turns (chat/chatkit/recovery.py) and
takes over SIGTERM: it stops taking new turns, lets running ones finish for
CHAT_SHUTDOWN_GRACE_SECONDS, stops the rest (partial answers stored, turns marked
interrupted, leases released), then lets the server stop as it would have (daphne's
Twisted reactor). Pair it with a container stop grace period a little longer than that.
"""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from chat.chatkit.recovery import sweeper
from chat.chatkit.turns import shut_down
from chat.conf import app_settings

logger = logging.getLogger(__name__)

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


def stop_server() -> None:
    """Stop daphne's reactor, as its own SIGTERM handler would have."""
    try:
        from twisted.internet import reactor
    except ImportError:  # not under daphne
        raise SystemExit(0) from None
    if reactor.running:
        reactor.callFromThread(reactor.stop)


class TurnLifecycle:
    """ASGI middleware around the whole application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.started = False
        self.stopping: asyncio.Task | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        if not self.started and scope["type"] in ("http", "websocket"):
            self.start()
        return await self.app(scope, receive, send)

    def start(self) -> None:
        self.started = True
        sweeper.ensure_running()
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, self.on_sigterm)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            logger.info("SIGTERM is not handled here: no graceful shutdown of turns")

    def on_sigterm(self) -> None:
        if self.stopping is None:
            grace = app_settings.SHUTDOWN_GRACE_SECONDS
            logger.warning("SIGTERM: finishing running answers (up to %ss), then stopping", grace)
            self.stopping = asyncio.get_running_loop().create_task(self.stop(grace))

    async def stop(self, grace: float) -> None:
        try:
            await shut_down(grace)
        finally:
            stop_server()
