"""HTTP views of the chat app: the ChatKit endpoint, health, and the home page.

Views parse, authorise, call and map errors; the work happens in chat.protocol,
chat.server and chat.store.
"""

import logging

from asgiref.sync import sync_to_async
from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from accounts.jwt import AuthenticationFailed, authenticate_bearer, unauthorized
from chat.conf import app_settings
from chat.context import RequestContext, page_context_from
from chat.protocol import BadRequest, authorize_request, parse_request
from chat.server import SiteChatKitServer
from chat.streaming import sse_stream

logger = logging.getLogger(__name__)

server = SiteChatKitServer()

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and similar proxies buffer responses unless told not to.
    "X-Accel-Buffering": "no",
}


def error(status: int, message: str, **headers: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status, headers=headers)


def declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt  # Bearer tokens only, never cookies: there is no ambient credential to forge.
async def chatkit_endpoint(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return error(405, "Use POST.", Allow="POST")
    limit = app_settings.MAX_REQUEST_BYTES
    if declared_length(request) > limit:
        return error(413, f"Request body is larger than {limit} bytes.")
    try:
        user = await authenticate_bearer(request)
        body = request.body
        if len(body) > limit:
            return error(413, f"Request body is larger than {limit} bytes.")
        chatkit_request = parse_request(body)
        context = RequestContext(user=user, page=page_context_from(chatkit_request.metadata))
        await authorize_request(chatkit_request, server.store, context)
        result = await server.process(body, context)
    except AuthenticationFailed as failure:
        return unauthorized(failure.message)
    except BadRequest as bad:
        return error(400, bad.message)
    except NotFoundError:
        return error(404, "Not found.")
    except DatabaseError:
        logger.exception("Database unavailable for a ChatKit request")
        return error(503, "The service is temporarily unavailable. Please retry.", **{
            "Retry-After": "5"
        })

    if isinstance(result, StreamingResult):
        response = StreamingHttpResponse(
            sse_stream(result, app_settings.KEEPALIVE_SECONDS),
            content_type="text/event-stream",
            headers=SSE_HEADERS,
        )
        return response
    return HttpResponse(result.json, content_type="application/json")


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


async def healthz(request: HttpRequest) -> JsonResponse:
    if await sync_to_async(database_answers)():
        return JsonResponse({"status": "ok", "database": "ok"})
    return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")
