"""Up-front checks of the request types beyond plain messages: actions, client tool
output, structured input, dictation, and the composer's model and tool choice.

`requests.authorize_request` calls `check_protocol_request` after proving the thread is
the user's. Whatever the SDK would only fail in the middle of a stream (after the 200) is
refused here with a status a client can act on: 404 for someone else's item, 400 naming
the problem, 413/415 for audio.
"""

import dataclasses

from chatkit.types import (
    ChatKitReq,
    ClientToolCallItem,
    InputTranscribeReq,
    StructuredInputItem,
    ThreadMetadata,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsSyncCustomActionReq,
    UserMessageItem,
)
from django.utils.translation import gettext

from chat.assistant import dictation
from chat.assistant.choices import checked_model, checked_tool, model_entry, tool_entry
from chat.chatkit.actions import check_action_request
from chat.chatkit.store import DjangoStore
from chat.context import RequestContext
from chat.errors import BadRequest


async def check_protocol_request(
    request: ChatKitReq, store: DjangoStore, context: RequestContext
) -> None:
    if isinstance(request, (ThreadsCreateReq, ThreadsAddUserMessageReq)):
        options = request.params.input.inference_options
        checked_model(options.model)
        checked_tool(options.tool_choice.id if options.tool_choice else None)
    elif isinstance(request, (ThreadsCustomActionReq, ThreadsSyncCustomActionReq)):
        await check_action_request(request, store, context)
    elif isinstance(request, ThreadsAddClientToolOutputReq):
        await check_pending_client_tool(request.params.thread_id, store, context)
    elif isinstance(request, ThreadsAddStructuredInputReq):
        item = await store.load_item(request.params.thread_id, request.params.item_id, context)
        if not isinstance(item, StructuredInputItem):
            raise BadRequest("params.item_id must name a structured input item.")
        if item.status != "pending":
            raise BadRequest(gettext("That question has already been answered."))
    elif isinstance(request, InputTranscribeReq):
        dictation.check_audio(request.params.audio_base64, request.params.mime_type)


async def check_pending_client_tool(
    thread_id: str, store: DjangoStore, context: RequestContext
) -> None:
    """The thread's last item must be a client tool call waiting for its output (what the
    SDK looks for; without one it fails after the 200)."""
    page = await store.load_thread_items(thread_id, None, 1, "desc", context)
    last = page.data[0] if page.data else None
    if not (isinstance(last, ClientToolCallItem) and last.status == "pending"):
        raise BadRequest("No client tool call is waiting for its output in this thread.")


# How far back a turn without a new message looks for the user's last choice of model.
CHOICE_LOOKBACK = 20


async def with_turn_choices(
    store: DjangoStore,
    thread: ThreadMetadata,
    message: UserMessageItem | None,
    context: RequestContext,
) -> RequestContext:
    """The context of a turn with the user's composer choices: the model of the message
    answered (or, for a turn that continues after a client tool, a structured input or an
    action, of the user's last message), and the tool it forces (only right after the
    message: a continuation must not call it again). A choice no longer offered is
    dropped."""
    if message is None:
        page = await store.load_thread_items(thread.id, None, CHOICE_LOOKBACK, "desc", context)
        message = next((item for item in page.data if isinstance(item, UserMessageItem)), None)
        tool = ""
    else:
        choice = message.inference_options.tool_choice
        tool = (tool_entry(choice.id) or {}).get("tool", "") if choice else ""
    model = message.inference_options.model if message is not None else None
    model_id = model if model and model_entry(model) else ""
    return dataclasses.replace(context, model_id=model_id, tool_choice=tool)
