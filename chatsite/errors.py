"""Error answers for the whole site: JSON on the API paths, Django's pages elsewhere.

A client of `/chatkit/…` or `/api/…` parses JSON; an HTML error page there (a 404 for a
mistyped path, a CSRF failure, a crash) would break it in a way it cannot report. Pages
keep Django's own error pages.
"""

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views import defaults
from django.views.csrf import csrf_failure as default_csrf_failure

JSON_PATH_PREFIXES = ("/chatkit/", "/api/")


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATH_PREFIXES)


def detail(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def unavailable(retry_after: int = 5) -> JsonResponse:
    """A dependency (the database) is down: retry in a few seconds."""
    response = detail(503, gettext("The service is temporarily unavailable. Please retry."))
    response["Retry-After"] = str(retry_after)
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A body Django refuses to parse: too many fields or files, too large, malformed."""
    if not wants_json(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return detail(413, "The request body is too large.")
    if isinstance(exception, TooManyFieldsSent):
        return detail(400, "The request has too many form fields.")
    if isinstance(exception, TooManyFilesSent):
        return detail(400, "The request has too many files.")
    return detail(400, "The request is malformed.")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_json(request):
        return detail(404, "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return detail(500, "Something went wrong on the server. Please retry.")
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if wants_json(request):
        return detail(403, f"CSRF check failed: {reason or 'missing or wrong token'}.")
    return default_csrf_failure(request, reason)
