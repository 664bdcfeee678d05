"""ASGI entry point: Channels' router in front of Django.

HTTP (pages, the streaming ChatKit endpoint) goes to Django's own ASGI handler, which
cancels a streaming response when the client disconnects; that is what lets ChatKit save a
partial answer. WebSocket routes can be added to the router later without touching views.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)

application = ProtocolTypeRouter({"http": django_asgi_app})
