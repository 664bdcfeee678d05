"""HTTP views of the chat app: the ChatKit endpoint, health, and the home page.

Views parse, authorise, call and map errors; the work happens in chat.protocol,
chat.server and chat.store.
"""

import logging
from contextlib import AsyncExitStack

from asgiref.sync import sync_to_async
from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import ChatKitReq, is_streaming_req
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from accounts.jwt import AuthenticationFailed, authenticate_bearer, unauthorized
from chat import attachments
from chat.attachments import AttachmentRejected
from chat.conf import app_settings
from chat.context import RequestContext, page_context_from
from chat.limits import (
    LimitExceeded,
    check_message_rate,
    check_token_quota,
    stream_slot,
    thread_turn,
)
from chat.protocol import BadRequest, authorize_request, parse_request
from chat.requestlog import RequestLog
from chat.server import SiteChatKitServer
from chat.streaming import sse_stream

logger = logging.getLogger(__name__)

server = SiteChatKitServer()

# Requests that send the model a new message: rate-limited and counted against the quota.
MESSAGE_TYPES = {"threads.create", "threads.add_user_message", "threads.retry_after_item"}

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
    log = RequestLog()
    response = await answer_chatkit_request(request, log)
    if not response.streaming:  # a stream logs itself when it ends
        log.emit(response.status_code)
    return response


async def answer_chatkit_request(request: HttpRequest, log: RequestLog) -> HttpResponse:
    if request.method != "POST":
        return error(405, "Use POST.", Allow="POST")
    limit = app_settings.MAX_REQUEST_BYTES
    if declared_length(request) > limit:
        return error(413, f"Request body is larger than {limit} bytes.")
    guards = AsyncExitStack()  # released when the answer ends, or right away
    streaming = False
    try:
        user = await authenticate_bearer(request)
        log.user_id = user.pk
        body = request.body
        if len(body) > limit:
            return error(413, f"Request body is larger than {limit} bytes.")
        chatkit_request = parse_request(body)
        log.request_type = chatkit_request.type
        log.thread_id = getattr(chatkit_request.params, "thread_id", None)
        context = RequestContext(
            user=user,
            page=page_context_from(chatkit_request.metadata),
            extra={"base_url": attachments.request_base_url(request)},
            stats=log.stats,
        )
        await authorize_request(chatkit_request, server.store, context)
        await enter_limits(guards, chatkit_request, context)
        result = await server.process(body, context)
        streaming = isinstance(result, StreamingResult)
    except AuthenticationFailed as failure:
        return unauthorized(failure.message)
    except BadRequest as bad:
        return error(400, bad.message)
    except AttachmentRejected as rejected:
        return error(rejected.status, rejected.message)
    except NotFoundError:
        return error(404, "Not found.")
    except LimitExceeded as limited:
        return error(429, limited.message, **{"Retry-After": str(limited.retry_after)})
    except DatabaseError:
        logger.exception("Database unavailable for a ChatKit request")
        return error(503, "The service is temporarily unavailable. Please retry.", **{
            "Retry-After": "5"
        })
    finally:
        if not streaming:
            await guards.aclose()

    if streaming:

        async def on_close(outcome: str) -> None:
            await guards.aclose()
            log.emit(f"200/{outcome}")

        return StreamingHttpResponse(
            sse_stream(result, app_settings.KEEPALIVE_SECONDS, on_close),
            content_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    return HttpResponse(result.json, content_type="application/json")


async def enter_limits(
    guards: AsyncExitStack, request: ChatKitReq, context: RequestContext
) -> None:
    """Hold what an answer needs while it streams: a stream slot, and the thread's turn.

    New messages also count against the rate limit and the daily token quota.
    """
    if not is_streaming_req(request):
        return
    user_id = context.user_id
    if request.type in MESSAGE_TYPES:
        await check_token_quota(user_id)
        await check_message_rate(user_id)
    await guards.enter_async_context(stream_slot(user_id))
    thread_id = getattr(request.params, "thread_id", None)
    if thread_id:
        await guards.enter_async_context(thread_turn(thread_id))


# Multipart framing around the file (boundaries, part headers): allowed on top of the limit.
MULTIPART_OVERHEAD = 64 * 1024


UPLOAD_FAILURES = (AuthenticationFailed, AttachmentRejected, MultiPartParserError)


def upload_failure(failure: Exception) -> JsonResponse:
    """The answer to an upload the client can correct: 401, the rejection's status, or 400."""
    if isinstance(failure, AuthenticationFailed):
        return unauthorized(failure.message)
    if isinstance(failure, AttachmentRejected):
        return error(failure.status, failure.message)
    return error(400, "The multipart body is malformed.")


def upload_too_large(request: HttpRequest) -> JsonResponse | None:
    """A 413 before reading a body whose declared length already exceeds the file limit."""
    limit = app_settings.ATTACHMENT_MAX_BYTES
    if declared_length(request) > limit + MULTIPART_OVERHEAD:
        return error(413, f"The file is larger than {limit} bytes.")
    return None


@csrf_exempt  # Bearer tokens only, never cookies.
async def attachment_upload(request: HttpRequest) -> HttpResponse:
    """Direct upload: multipart field `file`; answers with the ChatKit attachment JSON."""
    if request.method != "POST":
        return error(405, "Use POST.", Allow="POST")
    if too_large := upload_too_large(request):
        return too_large
    try:
        user = await authenticate_bearer(request)
        uploaded = await sync_to_async(attachments.uploaded_file)(request)
        attachment = await sync_to_async(attachments.store_direct_upload)(
            user.pk, uploaded, attachments.request_base_url(request)
        )
    except UPLOAD_FAILURES as failure:
        return upload_failure(failure)
    return HttpResponse(attachments.to_json(attachment), content_type="application/json")


@csrf_exempt  # Authorised by the signed URL or a Bearer token, never by cookies.
async def attachment_upload_target(request: HttpRequest, attachment_id: str) -> HttpResponse:
    """Two-phase upload: the bytes for an attachment created by `attachments.create`."""
    if request.method != "POST":
        return error(405, "Use POST.", Allow="POST")
    if too_large := upload_too_large(request):
        return too_large
    try:
        row = await attachments.pending_upload_for(request, attachment_id)
        if row is None:
            return error(404, "Not found.")
        uploaded = await sync_to_async(attachments.uploaded_file)(request)
        attachment = await sync_to_async(attachments.complete_upload)(
            row, uploaded, attachments.request_base_url(request)
        )
    except UPLOAD_FAILURES as failure:
        return upload_failure(failure)
    return HttpResponse(
        attachments.to_json(attachment),
        content_type="application/json",
        # The signed URL is the credential, so the widget's frame may read the answer.
        headers={"Access-Control-Allow-Origin": "*"},
    )


async def attachment_download(request: HttpRequest, attachment_id: str) -> HttpResponse:
    """The attachment's bytes, for its owner, a signed link, or staff who may view threads."""
    if request.method not in ("GET", "HEAD"):
        return error(405, "Use GET.", Allow="GET, HEAD")
    try:
        found = await attachments.attachment_for_download(request, attachment_id)
    except AuthenticationFailed as failure:
        return unauthorized(failure.message)
    if found is None:
        return error(404, "Not found.")
    row, by_link = found
    headers = attachments.download_headers(row, by_link)
    if request.method == "HEAD":
        return HttpResponse(headers=headers)
    handle = await attachments.open_stored(row)
    if handle is None:
        return error(404, "Not found.")
    return StreamingHttpResponse(attachments.file_chunks(handle), headers=headers)


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


def about(request: HttpRequest) -> HttpResponse:
    """A second content page: the chat widget is on every page, not only the home page."""
    return render(request, "about.html")
