"""Parse and authorise a ChatKit request before the SDK runs it.

The SDK only discovers a missing thread while a stream is being iterated, after a 200 has
gone out. Everything that can be checked up front is checked here, so a client gets a
400 or 404 it can act on instead of a broken stream.
"""

from chatkit.store import NotFoundError
from chatkit.types import (
    ChatKitReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsRetryAfterItemReq,
    UserMessageItem,
)
from pydantic import TypeAdapter, ValidationError

from chat.context import RequestContext
from chat.store import DjangoStore

request_adapter: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)

# Request types the protocol defines but this site does not implement (yet): refused with
# a 400 rather than failing halfway through a stream.
UNSUPPORTED_TYPES = {
    "threads.custom_action",
    "threads.sync_custom_action",
    "threads.add_client_tool_output",
    "threads.add_structured_input",
    "input.transcribe",
    "attachments.create",
    "attachments.delete",
}


class BadRequest(Exception):
    """The request is malformed or not supported; `message` tells the client which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for detail in error.errors(include_url=False)[:5]:
        location = ".".join(str(part) for part in detail["loc"])
        parts.append(f"{location}: {detail['msg']}" if location else detail["msg"])
    return "Invalid ChatKit request: " + "; ".join(parts)


def parse_request(body: bytes) -> ChatKitReq:
    """The typed request, or BadRequest naming what is wrong with it."""
    try:
        request = request_adapter.validate_json(body)
    except ValidationError as error:
        raise BadRequest(describe_validation_error(error)) from error
    if request.type in UNSUPPORTED_TYPES:
        raise BadRequest(f"Request type {request.type!r} is not supported by this server.")
    return request


async def authorize_request(
    request: ChatKitReq, store: DjangoStore, context: RequestContext
) -> None:
    """Raise NotFoundError unless every thread, item and attachment it names is the user's."""
    thread_id = getattr(request.params, "thread_id", None)
    if thread_id is not None:
        await store.load_thread(thread_id, context)
    if isinstance(request, (ThreadsCreateReq, ThreadsAddUserMessageReq)):
        for attachment_id in request.params.input.attachments:
            await store.load_attachment(attachment_id, context)
    if isinstance(request, ThreadsRetryAfterItemReq):
        item = await store.load_item(thread_id, request.params.item_id, context)
        if not isinstance(item, UserMessageItem):
            raise BadRequest("threads.retry_after_item must name a user message.")


__all__ = ["BadRequest", "NotFoundError", "authorize_request", "parse_request"]
