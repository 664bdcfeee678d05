"""The site's MCP servers, connected for one turn and always closed after it.

A server that is down, refuses, or does not answer within its timeout is skipped: the
turn goes on without its tools and the caller learns its name to tell the user.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from agents.mcp import MCPServer, MCPServerStreamableHttp

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class McpServerConfig:
    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def parse(cls, raw: Any) -> "McpServerConfig | None":
        """One entry of CHAT_MCP_SERVERS; a malformed entry is logged and skipped."""
        if not isinstance(raw, dict) or not raw.get("url") or not raw.get("name"):
            logger.error("Ignoring malformed CHAT_MCP_SERVERS entry (needs name and url): %r", raw)
            return None
        return cls(
            name=str(raw["name"]),
            url=str(raw["url"]),
            headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
            timeout=float(raw.get("timeout") or DEFAULT_TIMEOUT),
        )


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
    entries: list[Any],
) -> AsyncIterator[tuple[list[MCPServer], list[str]]]:
    """Yields (connected servers, names of the servers that could not be reached)."""
    connected: list[MCPServer] = []
    unavailable: list[str] = []
    try:
        for config in filter(None, map(McpServerConfig.parse, entries)):
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
