"""HTTP views of the chat app: the ChatKit endpoint and attachment uploads and downloads.

Views parse, authenticate, call and answer; the work happens in `chat.chatkit` and
`chat.attachments`. Every refusal is mapped to JSON in one place, `json_errors`.
"""

import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from asgiref.sync import sync_to_async
from chatkit.server import NonStreamingResult
from chatkit.store import NotFoundError
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt

from accounts.jwt import AuthenticationFailed, authenticate_bearer, unauthorized
from chat.assistant import entities
from chat.attachments import access, policy, serving, uploads
from chat.attachments.store import to_json
from chat.chatkit import client_state
from chat.chatkit.requestlog import RequestLog
from chat.chatkit.requests import parse_request
from chat.chatkit.server import SiteChatKitServer
from chat.chatkit.sse import sse_stream
from chat.chatkit.turns import follow_turn, run_request, stop_turn
from chat.conf import app_settings
from chat.context import RequestContext, page_context_from
from chat.errors import (
    AttachmentRejected,
    BadRequest,
    ChatError,
    NotFound,
    Unavailable,
    error_response,
)
from chat.limits import allowance
from chatsite import db

logger = logging.getLogger(__name__)

server = SiteChatKitServer()

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and similar proxies buffer responses unless told not to.
    "X-Accel-Buffering": "no",
}

# Multipart framing around the file (boundaries, part headers): allowed on top of the limit.
MULTIPART_OVERHEAD = 64 * 1024

View = Callable[..., Awaitable[HttpResponse]]


def json_errors(view: View) -> View:
    """Answer every refusal the same way: `{"detail": ...}` JSON with its status."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return await view(request, *args, **kwargs)
        except AuthenticationFailed as failure:
            return unauthorized(failure.message)
        except NotFoundError:
            return error_response(NotFound())
        except MultiPartParserError:
            return error_response(BadRequest("The multipart body is malformed."))
        except DatabaseError:
            logger.exception("Database unavailable for %s", request.path)
            return error_response(Unavailable())
        except ChatError as refused:
            return error_response(refused)

    return wrapper


def allow(*methods: str) -> Callable[[View], View]:
    """405 JSON for any other method (HEAD comes with GET)."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(view: View) -> View:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in allowed:
                refusal = ChatError(
                    f"Use {' or '.join(methods)}.",
                    status=405,
                    headers={"Allow": ", ".join(sorted(allowed))},
                )
                return error_response(refusal)
            return await view(request, *args, **kwargs)

        return wrapper

    return decorate


def declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def request_base_url(request: HttpRequest) -> str:
    """Scheme and host of the request, e.g. `https://example.com`: ChatKit needs absolute
    preview URLs, and the store only sees the RequestContext."""
    return request.build_absolute_uri("/").rstrip("/")


# --- the ChatKit endpoint ---------------------------------------------------------------


@csrf_exempt  # Bearer tokens only, never cookies: there is no ambient credential to forge.
async def chatkit_endpoint(request: HttpRequest) -> HttpResponse:
    log = RequestLog()
    response = await answer_chatkit_request(request, log)
    if not response.streaming:  # a stream logs itself when it ends
        log.emit(response.status_code)
        # Sent with its length, not chunked: the endpoint's handler leaves out
        # CommonMiddleware, which set it (chatsite/endpoint_handler.py).
        response.setdefault("Content-Length", str(len(response.content)))
    return response


@allow("POST")
@json_errors
async def answer_chatkit_request(request: HttpRequest, log: RequestLog) -> HttpResponse:
    limit = app_settings.MAX_REQUEST_BYTES
    too_large = ChatError(f"Request body is larger than {limit} bytes.", status=413)
    if declared_length(request) > limit:
        raise too_large
    user = await authenticate_bearer(request)
    log.user_id = user.pk
    body = request.body
    if len(body) > limit:
        raise too_large
    chatkit_request = parse_request(body)
    log.request_type = chatkit_request.type
    log.thread_id = getattr(chatkit_request.params, "thread_id", None)
    context = RequestContext(
        user=user,
        page=page_context_from(chatkit_request.metadata),
        base_url=request_base_url(request),
        usage=log.usage,
    )

    answer = await run_request(server, chatkit_request, context, log)
    if isinstance(answer, NonStreamingResult):
        return HttpResponse(answer.json, content_type="application/json")
    return sse_response(answer)


def sse_response(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    """A stream of a turn's events. It may stay open for minutes, holding neither a thread
    nor a database connection: everything it needed from the database went through the
    pool (chatsite/db.py), and the turn writes through the pool too."""
    return StreamingHttpResponse(events, content_type="text/event-stream", headers=SSE_HEADERS)


async def own_thread(request: HttpRequest, thread_id: str) -> RequestContext:
    """The context of a Bearer-authenticated request about the user's own thread (404
    for anyone else's)."""
    user = await authenticate_bearer(request)
    context = RequestContext(user=user, base_url=request_base_url(request))
    await server.store.load_thread(thread_id, context)
    return context


@csrf_exempt  # Bearer tokens only.
@allow("POST")
@json_errors
async def stop_thread_turn(request: HttpRequest, thread_id: str) -> HttpResponse:
    """Stop the thread's running answer, wherever it runs; the partial answer is kept."""
    await own_thread(request, thread_id)
    stopped = await stop_turn(thread_id)
    return JsonResponse({"stopped": stopped})


@allow("GET")
@json_errors
async def resume_thread_turn(request: HttpRequest, thread_id: str) -> HttpResponse:
    """The running answer of the thread from its first event, then live (SSE); 204 when
    nothing is running."""
    await own_thread(request, thread_id)
    events = await follow_turn(thread_id, batched=True)
    if events is None:
        return HttpResponse(status=204)
    return sse_response(sse_stream(events, app_settings.KEEPALIVE_SECONDS))


@allow("GET")
@json_errors
async def user_limits(request: HttpRequest) -> HttpResponse:
    """The Bearer user's limits and what is left of them (chat/limits.py `allowance`), for
    a client to show: `{"rate", "max_concurrent_streams", "daily_tokens"}`."""
    user = await authenticate_bearer(request)
    return JsonResponse(await allowance(user.pk), headers={"Cache-Control": "no-store"})
# --- @-mentions (chat/assistant/entities.py) ---------------------------------------------


@allow("GET")
@json_errors
async def entity_search(request: HttpRequest) -> HttpResponse:
    """The composer's tag search (`entities.onTagSearch`): `?q=` -> {"entities": [...]}."""
    user = await authenticate_bearer(request)
    if not entities.enabled():
        raise NotFound("@-mentions are not enabled on this site.")
    found = await db.run(entities.search, user, request.GET.get("q", ""))
    return JsonResponse({"entities": found})


@allow("GET")
@json_errors
async def entity_preview(request: HttpRequest) -> HttpResponse:
    """An entity's preview (`entities.onRequestPreview`): `?id=` -> {"preview": widget};
    404 for one the user may not see."""
    user = await authenticate_bearer(request)
    preview = await db.run(entities.preview, user, request.GET.get("id", ""))
    if preview is None:
        raise NotFound()
    return JsonResponse({"preview": preview})


# --- attachments ------------------------------------------------------------------------


def refuse_large_upload(request: HttpRequest) -> None:
    """A 413 before reading a body whose declared length already exceeds the file limit."""
    limit = app_settings.ATTACHMENT_MAX_BYTES
    if declared_length(request) > limit + MULTIPART_OVERHEAD:
        raise AttachmentRejected(413, policy.too_large(limit))


def uploaded_file(request: HttpRequest) -> UploadedFile:
    """The multipart field `file` (parsing reads the spooled body: call off the loop)."""
    uploaded = request.FILES.get("file")
    if uploaded is None:
        raise AttachmentRejected(400, gettext("Send the file as the multipart field 'file'."))
    return uploaded


async def requesting_user(request: HttpRequest) -> AbstractBaseUser | None:
    """The Bearer token's user if the request sends one (AuthenticationFailed if it is
    bad), else the session's user, else None."""
    if request.headers.get("Authorization"):
        return await authenticate_bearer(request)
    user = await request.auser()
    return user if user.is_authenticated else None


@csrf_exempt  # Bearer tokens only, never cookies.
@allow("POST")
@json_errors
async def attachment_upload(request: HttpRequest) -> HttpResponse:
    """Direct upload: multipart field `file`; answers with the ChatKit attachment JSON."""
    refuse_large_upload(request)
    user = await authenticate_bearer(request)
    uploaded = await sync_to_async(uploaded_file)(request)
    attachment = await sync_to_async(uploads.store_direct_upload)(
        user.pk, uploaded, request_base_url(request)
    )
    return HttpResponse(to_json(attachment), content_type="application/json")


@csrf_exempt  # Authorised by the signed URL or a Bearer token, never by cookies.
@allow("POST")
@json_errors
async def attachment_upload_target(request: HttpRequest, attachment_id: str) -> HttpResponse:
    """Two-phase upload: the bytes for an attachment created by `attachments.create`."""
    refuse_large_upload(request)
    owner_id = access.upload_token_owner(attachment_id, request.GET.get("token", ""))
    if owner_id is None and request.headers.get("Authorization"):
        owner_id = (await authenticate_bearer(request)).pk
    row = await access.pending_upload(attachment_id, owner_id)
    if row is None:
        raise NotFound()
    uploaded = await sync_to_async(uploaded_file)(request)
    attachment = await sync_to_async(uploads.complete_upload)(
        row, uploaded, request_base_url(request)
    )
    return HttpResponse(
        to_json(attachment),
        content_type="application/json",
        # The signed URL is the credential, so the widget's frame may read the answer.
        headers={"Access-Control-Allow-Origin": "*"},
    )


@allow("GET")
@json_errors
async def attachment_download(request: HttpRequest, attachment_id: str) -> HttpResponse:
    """The attachment's bytes, for its owner, a signed link, or staff who may view threads."""
    row = await access.downloadable_by_link(attachment_id, request.GET.get("token", ""))
    by_link = row is not None
    if row is None:
        user = await requesting_user(request)
        row = await access.downloadable_by(attachment_id, user) if user else None
    if row is None:
        raise NotFound()
    headers = serving.download_headers(row, by_link)
    if request.method == "HEAD":
        return HttpResponse(headers=headers)
    handle = await serving.open_stored(row)
    if handle is None:
        raise NotFound()
    return StreamingHttpResponse(serving.file_chunks(handle), headers=headers)


# --- the built-in client's extras (chat/chatkit/client_state.py) -------------------------


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object body, or 400 naming the problem."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as error:
        raise BadRequest("The body is not valid JSON.") from error
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


@allow("GET")
@json_errors
async def search_threads(request: HttpRequest) -> HttpResponse:
    """The user's threads by last activity, filtered by `q` (title or message text), a page
    of `limit` after the cursor `after`."""
    user = await authenticate_bearer(request)
    try:
        limit = int(request.GET.get("limit") or 20)
    except ValueError as error:
        raise BadRequest("'limit' must be a whole number.") from error
    page = await client_state.search_threads(
        user.pk, request.GET.get("q", ""), after=request.GET.get("after") or None, limit=limit
    )
    return JsonResponse(page)


@allow("GET")
@json_errors
async def thread_item_states(request: HttpRequest, thread_id: str) -> HttpResponse:
    """The user's votes on the thread's answers and the answers cut short."""
    user = await authenticate_bearer(request)
    return JsonResponse(await client_state.item_states(user.pk, thread_id))


@csrf_exempt  # Bearer tokens only.
@allow("DELETE")
@json_errors
async def item_feedback(request: HttpRequest, thread_id: str, item_id: str) -> HttpResponse:
    """Undo the user's vote on an item."""
    user = await authenticate_bearer(request)
    cleared = await client_state.clear_feedback(user.pk, thread_id, item_id)
    return JsonResponse({"cleared": cleared})


@csrf_exempt  # Bearer tokens only.
@allow("POST")
@json_errors
async def edit_item(request: HttpRequest, thread_id: str, item_id: str) -> HttpResponse:
    """Replace a sent message's text (`{"text": ...}`); answer it again with
    `threads.retry_after_item`."""
    user = await authenticate_bearer(request)
    limit = app_settings.MAX_REQUEST_BYTES
    if declared_length(request) > limit:
        raise ChatError(f"Request body is larger than {limit} bytes.", status=413)
    text = json_body(request).get("text")
    if not isinstance(text, str):
        raise BadRequest("Send the new text as 'text'.")
    item = await client_state.edit_user_message(user.pk, thread_id, item_id, text)
    return JsonResponse({"item": item})
