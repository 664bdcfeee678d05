"""Parse and authorise a ChatKit request before the SDK runs it.

The SDK only discovers a missing thread while a stream is being iterated, after a 200 has
gone out. Everything that can be checked up front is checked here, so a client gets a
400 or 404 it can act on instead of a broken stream.
"""

from chatkit.types import (
    ChatKitReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsRetryAfterItemReq,
    UserMessageItem,
)
from django.utils.translation import ngettext
from pydantic import TypeAdapter, ValidationError

from chat.attachments.access import sendability_problem
from chat.chatkit.protocol import check_protocol_request
from chat.chatkit.store import DjangoStore
from chat.conf import app_settings
from chat.context import RequestContext
from chat.errors import BadRequest

request_adapter: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)

# Request types the protocol defines but this site does not implement: refused with a 400
# rather than failing halfway through a stream. All sixteen are implemented.
UNSUPPORTED_TYPES: set[str] = set()


# Reads and writes whose first store call on the thread refuses anyone else's thread by
# itself (NotFoundError, a 404 before any answer): checking it up front would read it twice.
SELF_AUTHORISING_TYPES = {"threads.get_by_id", "threads.update", "threads.delete", "items.list"}

# Largest page a client may ask for in threads.list and items.list (0 means the default).
MAX_PAGE_SIZE = 100


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for detail in error.errors(include_url=False)[:5]:
        location = ".".join(str(part) for part in detail["loc"])
        parts.append(f"{location}: {detail['msg']}" if location else detail["msg"])
    return "Invalid ChatKit request: " + "; ".join(parts)


ID_FIELDS = ("thread_id", "item_id", "attachment_id", "after")


def check_ids(request: ChatKitReq) -> None:
    """Ids are opaque tokens the server issued; one with a NUL cannot be one of them, and
    PostgreSQL would refuse even to look it up."""
    params = request.params
    named = {field: getattr(params, field, None) for field in ID_FIELDS}
    named["item_ids"] = " ".join(getattr(params, "item_ids", None) or [])
    user_input = getattr(params, "input", None)
    named["input.attachments"] = " ".join(getattr(user_input, "attachments", None) or [])
    for field, value in named.items():
        if isinstance(value, str) and "\x00" in value:
            raise BadRequest(f"params.{field} is not a valid id.")


def parse_request(body: bytes) -> ChatKitReq:
    """The typed request, or BadRequest naming what is wrong with it."""
    try:
        request = request_adapter.validate_json(body)
    except ValidationError as error:
        raise BadRequest(describe_validation_error(error)) from error
    if request.type in UNSUPPORTED_TYPES:
        raise BadRequest(f"Request type {request.type!r} is not supported by this server.")
    check_ids(request)
    limit = getattr(request.params, "limit", None)
    if limit is not None and not 0 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"params.limit must be between 1 and {MAX_PAGE_SIZE}.")
    return request


async def authorize_request(
    request: ChatKitReq, store: DjangoStore, context: RequestContext
) -> None:
    """Raise NotFoundError unless every thread, item and attachment it names is the user's."""
    thread_id = getattr(request.params, "thread_id", None)
    if thread_id is not None and request.type not in SELF_AUTHORISING_TYPES:
        await store.load_thread(thread_id, context)
    if isinstance(request, (ThreadsCreateReq, ThreadsAddUserMessageReq)):
        await authorize_attachments(request.params.input.attachments, thread_id, context)
    if isinstance(request, ThreadsRetryAfterItemReq):
        item = await store.load_item(thread_id, request.params.item_id, context)
        if not isinstance(item, UserMessageItem):
            raise BadRequest("threads.retry_after_item must name a user message.")
    await check_protocol_request(request, store, context)


async def authorize_attachments(
    attachment_ids: list[str], thread_id: str | None, context: RequestContext
) -> None:
    """A message may carry a bounded number of the user's own, fully uploaded attachments
    (404 for a missing or foreign id, 400 for too many or one not uploaded yet)."""
    limit = app_settings.ATTACHMENTS_PER_MESSAGE
    if len(attachment_ids) > limit:
        raise BadRequest(
            ngettext(
                "A message can carry at most %(count)d attachment.",
                "A message can carry at most %(count)d attachments.",
                limit,
            ) % {"count": limit}
        )
    for attachment_id in attachment_ids:
        problem = await sendability_problem(attachment_id, thread_id, context.user_id)
        if problem:
            raise BadRequest(problem)
