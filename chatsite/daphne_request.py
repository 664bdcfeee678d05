"""Daphne without Twisted's form parsing: request bodies reach Django as they came.

Twisted's `Request.requestReceived` parses a `multipart/form-data` or
`application/x-www-form-urlencoded` POST body into `request.args` before daphne hands the
request on, on the event loop. Daphne never reads `args` (it passes the raw body to the
ASGI application, and Django parses it again, in a worker thread, with its own limits),
so the parse is pure cost: a body of 200,000 one-byte parts froze every stream of the
worker for seconds. `twisted.web.http.Request` takes `parsePOSTFormSubmission=False` to
skip it; daphne builds its requests through `HTTPFactory.buildProtocol`, so this module
gives daphne a factory whose requests pass that flag.

`install()` (called by chatsite/asgi.py, which daphne imports before it builds its server)
points daphne's server at that factory. It is a no-op where daphne is not the server
(uvicorn in tests, `manage.py` commands that never serve).
"""

import daphne.http_protocol
import daphne.server


class UnparsedBodyRequest(daphne.http_protocol.WebRequest):
    """Daphne's request, with Twisted's form parsing switched off (its public flag)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)


class UnparsedBodyHTTPFactory(daphne.http_protocol.HTTPFactory):
    """Daphne's HTTP factory, building `UnparsedBodyRequest`s."""

    def buildProtocol(self, addr):  # Twisted's name
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = UnparsedBodyRequest
        return protocol


def install() -> None:
    """Make daphne's `Server.run` build `UnparsedBodyHTTPFactory` (it looks the factory
    class up in its module when it starts listening)."""
    daphne.server.HTTPFactory = UnparsedBodyHTTPFactory
