"""ASGI entry point: Channels' router in front of Django.

HTTP goes to Django's own ASGI handler (the streaming ChatKit endpoint to a second one,
without the middleware of pages: chatsite/endpoint_handler.py); the websocket
`/ws/chat/` to the chat consumer, for the site's own pages (session cookie) and
the origins in CHAT_ALLOWED_ORIGINS (token in the first message). Both run inside
`chat.chatkit.lifecycle.TurnLifecycle`, which starts the sweeper of lost turns and the
graceful shutdown on SIGTERM when the worker serves its first request.

HTTP bodies: daphne is told not to parse form bodies on its event loop
(chatsite/daphne_request.py), and `BodyLimit` answers 413 JSON for a body over the site's
limit before Django reads it (chatsite/bodylimit.py).
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

django_asgi_app = get_asgi_application()

# Imported once Django is set up.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from chat.chatkit.consumers import ChatConsumer  # noqa: E402
from chat.chatkit.lifecycle import TurnLifecycle  # noqa: E402
from chatsite import daphne_request  # noqa: E402
from chatsite.bodylimit import BodyLimit  # noqa: E402
from chatsite.db import EndpointOnLoop  # noqa: E402
from chatsite.endpoint_handler import EndpointHandler, EndpointRouter  # noqa: E402
from chatsite.worker import warn_if_daphne_runs_without_uvloop  # noqa: E402

# Before daphne builds its server (it imports this module first).
daphne_request.install()
warn_if_daphne_runs_without_uvloop()


def allowed_origins() -> list[str]:
    """The site's own hosts (as Django's ALLOWED_HOSTS, with localhost when DEBUG is on,
    like Channels' AllowedHostsOriginValidator) plus the CORS origins."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return [*hosts, *settings.CORS_ALLOWED_ORIGINS]


websocket = OriginValidator(
    AuthMiddlewareStack(URLRouter([path("ws/chat/", ChatConsumer.as_asgi())])),
    allowed_origins(),
)

# The ChatKit endpoint has a handler of its own, without the middleware of pages
# (chatsite/endpoint_handler.py), and runs its thread-sensitive sync work in place.
ENDPOINT_PATHS = frozenset({"/chatkit/"})
http = BodyLimit(
    EndpointRouter(
        pages=django_asgi_app,
        endpoint=EndpointOnLoop(EndpointHandler()),
        paths=ENDPOINT_PATHS,
    )
)

application = TurnLifecycle(ProtocolTypeRouter({"http": http, "websocket": websocket}))

# What start-up built (settings, URL patterns, the SDKs' modules and schemas) lives as
# long as the worker: moved out of the collector's sight, a full collection no longer
# walks it, which cost about 0.5 ms of CPU per answer on average (gen2 collections of
# ~200 ms every few hundred answers, measured with gc.callbacks).
gc.freeze()
