"""A real MCP server (the `mcp` package, streamable HTTP) on loopback, for tests."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from mcp.server.mcpserver import MCPServer

from tests.instances import free_port


def inventory_server() -> MCPServer:
    server = MCPServer("inventory")

    @server.tool()
    def stock_level(product: str) -> str:
        """How many units of a product are in stock."""
        return f"{product}: 42 units in stock"

    return server


@contextmanager
def running_mcp_server() -> Iterator[str]:
    """Serve the inventory MCP server; yields its URL and stops it afterwards."""
    port = free_port()
    config = uvicorn.Config(
        inventory_server().streamable_http_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test MCP server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
