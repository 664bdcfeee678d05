"""Django's ASGI handler for the ChatKit endpoint alone, without the middleware of pages.

The endpoint (`POST /chatkit/`) is an API: every request carries its Bearer token
(accounts/jwt.py), it is exempt from CSRF, and it answers JSON or an event stream. The
middleware that serves pages has nothing to do there (no session, no session user, no
flash messages, no frame to refuse, no login to lock out, no slash to append), yet each
of Django's own takes one or two trips through `sync_to_async` per request: 6-7% of a
turn's CPU, measured side by side (README, Performance). So the endpoint gets a handler
of its own, loaded with `settings.MIDDLEWARE` less `PAGE_MIDDLEWARE`; everything else
(the request log and metrics, the probes, security headers, CSP, CORS, the request's
language, database outages as 503 JSON) runs as it does for every other path.

`settings.MIDDLEWARE` itself is unchanged, so pages, the admin and `check --deploy` see
the whole list.
"""

from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test.utils import override_settings

PAGE_MIDDLEWARE = frozenset(
    {
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "axes.middleware.AxesMiddleware",
    }
)


def endpoint_middleware() -> list[str]:
    return [path for path in settings.MIDDLEWARE if path not in PAGE_MIDDLEWARE]


class EndpointHandler(ASGIHandler):
    """Django's handler, with the endpoint's middleware (see the module's docstring)."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django's handler reads its list from settings.MIDDLEWARE and nowhere else: it is
        # given the endpoint's list while it loads, once, at start-up.
        with override_settings(MIDDLEWARE=endpoint_middleware()):
            super().load_middleware(is_async)


class EndpointRouter:
    """ASGI: requests to `paths` go to `endpoint`, everything else to `pages`."""

    def __init__(self, pages: Any, endpoint: Any, paths: frozenset[str]) -> None:
        self.pages = pages
        self.endpoint = endpoint
        self.paths = paths

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] == "http" and scope.get("path") in self.paths:
            return await self.endpoint(scope, receive, send)
        return await self.pages(scope, receive, send)
