"""Middleware that keeps the request path fully async.

One sync-only middleware makes Django run the whole chain, async views included, through
asgiref's thread-sensitive executor: a request waiting inside its view then holds the
thread that other requests' async ORM calls need, and their streams stall.
"""

import logging
from urllib.parse import urlsplit

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

logger = logging.getLogger(__name__)


class AsyncMiddleware:
    """A middleware that only runs async: Django calls it without a thread hop, so the
    chain stays async from daphne to the async views."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise's static files, with every other request passed straight on."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        static_file = self.find_file(path) if self.autorefresh else self.files.get(path)
        if static_file is not None:
            # Opening and statting the file is blocking I/O: keep it off the event loop.
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)


class ContentSecurityPolicyMiddleware(AsyncMiddleware):
    """A Content-Security-Policy for the site's pages: its own origin, plus the ChatKit CDN
    (the web component's script and its iframe), and nothing else external.

    Responses that set their own policy (attachment downloads) keep it.
    """

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy()
        return response


def content_security_policy() -> str:
    from chat.conf import app_settings  # the chat app's settings, read per response

    parts = urlsplit(app_settings.CDN_URL)
    cdn = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    images = " ".join(app_settings.IMAGE_ORIGINS)
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' {cdn}",
        # The widget and Django admin set inline style attributes.
        "style-src": f"'self' 'unsafe-inline' {cdn}",
        "img-src": f"'self' data: blob: {cdn} {images}",
        "font-src": f"'self' data: {cdn}",
        "connect-src": f"'self' {cdn}",
        "frame-src": cdn or "'none'",
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {' '.join(value.split())}" for name, value in directives.items())


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """503 JSON with Retry-After when a view on an API path (`/api/token/`, `/chatkit/`)
    fails because the database is unreachable: a client should retry, not report a crash.
    Pages keep Django's 500 page (an outage there is the operator's to see)."""

    def process_exception(self, request: HttpRequest, exception: Exception):
        from chatsite.errors import unavailable, wants_json

        if isinstance(exception, DatabaseError) and wants_json(request):
            logger.error("Database unavailable for %s: %s", request.path, exception)
            return unavailable()
        return None


class ProbeMiddleware(AsyncMiddleware):
    """Answer `/healthz/`, `/readyz/` and `/metrics` before anything else looks at the
    request.

    A container health check or a load balancer reaches a worker by its address over plain
    HTTP (and so does a Prometheus scraper): the host check (`ALLOWED_HOSTS=chat.example.com`)
    would refuse it with a 400 and `SECURE_SSL_REDIRECT` would send it a 301, so the probes
    come first in the chain. They reveal nothing but which dependency is down; the metrics
    need their token.
    """

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        from chatsite import observability, views

        probe = {
            "/healthz/": views.healthz,
            "/readyz/": views.readyz,
            "/metrics": observability.metrics,
        }.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return await probe(request)
        return await self.get_response(request)
