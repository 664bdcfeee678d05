"""The site's MCP servers, connected for one turn and always closed after it.

A server that is down, refuses, or does not answer within its timeout is skipped: the
turn goes on without its tools and the caller learns its name to tell the user.
"""

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agents.mcp import MCPServer, MCPServerStreamableHttp

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
FIELDS = {"name", "url", "headers", "timeout"}


@dataclass(frozen=True)
class McpServerConfig:
    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def parse(cls, raw: Any) -> "McpServerConfig":
        """One entry of CHAT_MCP_SERVERS; raises ValueError saying what is wrong with it.

        Called by chat.conf once per value of the setting, not per turn."""
        if not isinstance(raw, dict):
            raise ValueError(f"{raw!r} is not an object")
        unknown = set(raw) - FIELDS
        if unknown:
            raise ValueError(f"unknown keys {', '.join(sorted(map(repr, unknown)))}")
        name, url = raw.get("name"), raw.get("url")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("'name' must be a non-empty string")
        parts = urlsplit(url.strip()) if isinstance(url, str) else None
        if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"{name!r} needs an http(s) 'url'")
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in headers.items()
        ):
            raise ValueError(f"{name!r}: 'headers' must map names to strings")
        timeout = raw.get("timeout")
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ValueError(f"{name!r}: 'timeout' must be a number of seconds")
        if not 0 < timeout < math.inf:
            raise ValueError(f"{name!r}: 'timeout' must be above 0 seconds")
        return cls(name.strip(), url.strip(), dict(headers), float(timeout))


def build_server(config: McpServerConfig) -> MCPServerStreamableHttp:
    return MCPServerStreamableHttp(
        params={"url": config.url, "headers": config.headers, "timeout": config.timeout},
        name=config.name,
        client_session_timeout_seconds=config.timeout,
        cache_tools_list=True,
    )


async def close_quietly(server: MCPServer) -> None:
    try:
        await server.cleanup()
    except Exception:
        logger.warning("Closing MCP server %s failed", server.name, exc_info=True)


@asynccontextmanager
async def connected_mcp_servers(
    configs: Iterable[McpServerConfig],
) -> AsyncIterator[tuple[list[MCPServer], list[str]]]:
    """Yields (connected servers, names of the servers that could not be reached)."""
    connected: list[MCPServer] = []
    unavailable: list[str] = []
    try:
        for config in configs:
            server = build_server(config)
            try:
                # asyncio.timeout, not wait_for: the MCP client's task group must be entered
                # and left in this same task.
                async with asyncio.timeout(config.timeout):
                    await server.connect()
                    await server.list_tools()
            except Exception as error:  # any failure means: answer without this server
                logger.warning("MCP server %s (%s) unavailable: %r", config.name, config.url, error)
                unavailable.append(config.name)
                await close_quietly(server)
                continue
            connected.append(server)
        yield connected, unavailable
    finally:
        for server in reversed(connected):
            await close_quietly(server)
