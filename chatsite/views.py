"""The site's own pages and its probes: `/healthz/` (liveness) and `/readyz/` (readiness).

Both probes are answered ahead of the host check and the HTTPS redirect (see
`chatsite.middleware.ProbeMiddleware`): a container health check or a load balancer
probes a worker by its address, over plain HTTP, whatever `ALLOWED_HOSTS` says.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from chat.widget_gallery import gallery_widgets
from chatsite import db

logger = logging.getLogger(__name__)

# Each dependency gets this long to answer a readiness probe.
PROBE_TIMEOUT = 3.0


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def about(request: HttpRequest) -> HttpResponse:
    """A second content page: the chat widget is on every page, not only the home page."""
    return render(request, "about.html")


@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    """The full-page chat: the same client, threads and settings as the floating panel."""
    return render(request, "chat/page.html")


def widget_gallery(request: HttpRequest) -> HttpResponse:
    """One of each ChatKit widget component, rendered by the built-in client's renderer:
    for staff, or anyone while DEBUG is on (a page to look at, and what the browser tests
    check the renderer against)."""
    if not (settings.DEBUG or request.user.is_staff):
        raise Http404
    widgets = [{"title": title, "widget": widget} for title, widget in gallery_widgets()]
    return render(request, "chat/widget_gallery.html", {"widgets": widgets})


async def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. It touches no dependency, so a database or
    Redis outage never gets healthy workers restarted (that is what `/readyz/` reports)."""
    return JsonResponse({"status": "ok"})


def database_answers() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def check_database() -> None:
    await db.run(database_answers)


async def check_redis() -> None:
    """PING the Redis that the cache (limits, leases) uses."""
    from redis.asyncio import Redis

    client = Redis.from_url(settings.REDIS_URL, socket_connect_timeout=PROBE_TIMEOUT)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def check_channel_layer() -> None:
    """A message sent to a fresh channel on the layer comes back: the path every answer's
    events take to other workers and tabs."""
    layer = get_channel_layer()
    channel = await layer.new_channel("readyz.")
    await layer.send(channel, {"type": "readyz.probe"})
    message = await layer.receive(channel)
    if message.get("type") != "readyz.probe":
        raise RuntimeError("the channel layer returned another message")


Check = Callable[[], Awaitable[None]]


def readiness_checks() -> dict[str, Check]:
    """What `/readyz/` checks: Redis only where the site uses it."""
    checks = {"database": check_database, "channel_layer": check_channel_layer}
    if settings.REDIS_URL:
        checks["redis"] = check_redis
    return checks


async def probe(name: str, check: Check) -> str:
    """"ok", or "unavailable" when the check fails or takes longer than PROBE_TIMEOUT."""
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT)
        return "ok"
    except Exception as error:  # a timeout, a refused connection, a database error: down
        logger.warning("Readiness: %s is unavailable (%s)", name, type(error).__name__)
        return "unavailable"


async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, Redis (when configured) and the channel layer answer.
    503 JSON naming what is down, so a load balancer sends no traffic here meanwhile."""
    checks = readiness_checks()
    results = await asyncio.gather(*(probe(name, check) for name, check in checks.items()))
    report = dict(zip(checks, results, strict=True))
    down = sorted(name for name, result in report.items() if result != "ok")
    if down:
        return JsonResponse({"status": "unavailable", "down": down, **report}, status=503)
    return JsonResponse({"status": "ok", **report})
