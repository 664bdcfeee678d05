"""The rest of the ChatKit protocol through /chatkit/, with the offline demo agent: widgets
and their actions (streamed and synchronous), client tools, client effects, progress
updates, sources, structured input, dictation, model and tool choice, @-mentions; every
one of the sixteen request types; and another user's threads and items answering 404."""

import base64
import json
from typing import get_args

import pytest
from chatkit.types import ChatKitReq
from django.test import AsyncClient

from chat.models import ThreadItem, Turn
from tests.chatkit_client import ChatKitClient, assistant_text, bearer, user_input
from tests.fake_openai import fake_chat_completions_server

pytestmark = pytest.mark.django_db(transaction=True)


def done_items(events: list[dict], item_type: str) -> list[dict]:
    return [
        event["item"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == item_type
    ]


def widget_texts(widget: dict) -> list[str]:
    """Every text value and button label in a widget tree, depth first."""
    found = []
    for key in ("value", "label"):
        if isinstance(widget.get(key), str):
            found.append(widget[key])
    children = widget.get("children") or []
    for child in children if isinstance(children, list) else [children]:
        found += widget_texts(child)
    return found


def widget_actions(widget: dict) -> list[tuple]:
    """(type, payload, streaming) of every action in a widget tree, depth first."""
    found = []
    config = widget.get("onClickAction")
    if config:
        found.append((config["type"], config.get("payload"), config.get("streaming", True)))
    children = widget.get("children") or []
    for child in children if isinstance(children, list) else [children]:
        found += widget_actions(child)
    return found


async def stored(thread_id: str, item_id: str) -> ThreadItem:
    return await ThreadItem.objects.aget(thread_id=thread_id, item_id=item_id)


async def demo_widget(chat: ChatKitClient) -> tuple[str, dict]:
    thread_id, events = await chat.create_thread("Show me a widget")
    [widget] = done_items(events, "widget")
    return thread_id, widget


def action(action_type: str, payload: dict | None = None) -> dict:
    return {"type": action_type, "payload": payload}


# --- widgets and actions ------------------------------------------------------------------


async def test_the_demo_sends_a_widget_that_is_stored_and_listed(alice_chat):
    thread_id, events = await alice_chat.create_thread("Show me a widget")
    [widget] = done_items(events, "widget")
    updates = [
        event["update"]
        for event in events
        if event["type"] == "thread.item.updated" and event["item_id"] == widget["id"]
    ]
    deltas = [u["delta"] for u in updates if u["type"] == "widget.streaming_text.value_delta"]

    # Added, its introduction streamed in pieces, then finished.
    assert any(e["type"] == "thread.item.added" and e["item"]["type"] == "widget" for e in events)
    assert len(deltas) > 3 and all(u["component_id"] == "intro" for u in updates[:-1])
    assert "".join(deltas) in widget_texts(widget["widget"])[1]
    assert widget["widget"]["type"] == "Card"
    assert "Clicked 0 times" in widget_texts(widget["widget"])
    buttons = [widget["widget"]["children"][3]["children"][i] for i in (0, 1)]
    assert [b["onClickAction"]["type"] for b in buttons] == ["demo.count", "demo.like"]
    row = await stored(thread_id, widget["id"])
    assert (row.type, row.text) == ("widget", "Demo widget: clicked 0 times")
    status, page = await alice_chat.call("items.list", thread_id=thread_id, order="asc")
    listed = [item for item in page["data"] if item["type"] == "widget"]
    assert status == 200 and [item["id"] for item in listed] == [widget["id"]]
    assert widget_texts(listed[0]["widget"]) == widget_texts(widget["widget"])
    assert widget_actions(listed[0]["widget"]) == widget_actions(widget["widget"]) == [
        ("demo.count", {"count": 0, "liked": False}, True),
        ("demo.like", {"count": 0, "liked": False}, False),
    ]


async def test_a_streamed_action_updates_the_widget_reports_progress_and_answers(alice_chat):
    thread_id, widget = await demo_widget(alice_chat)

    events = await alice_chat.stream(
        "threads.custom_action",
        thread_id=thread_id,
        item_id=widget["id"],
        action=action("demo.count", {"count": 0, "liked": False}),
    )

    types = [event["type"] for event in events]
    assert types[0] == "stream_options"
    assert "progress_update" in types
    [replaced] = [event["item"] for event in events if event["type"] == "thread.item.replaced"]
    assert replaced["id"] == widget["id"]
    assert "Clicked 1 time" in widget_texts(replaced["widget"])
    assert "clicked the demo widget's button 1 time" in assistant_text(events)
    row = await stored(thread_id, widget["id"])
    assert "Clicked 1 time" in widget_texts(row.data["widget"])


async def test_a_sync_action_answers_with_the_updated_widget_and_stores_it(alice_chat):
    thread_id, widget = await demo_widget(alice_chat)

    status, body = await alice_chat.call(
        "threads.sync_custom_action",
        thread_id=thread_id,
        item_id=widget["id"],
        action=action("demo.like", {"count": 0, "liked": False}),
    )

    assert status == 200
    assert body["updated_item"]["id"] == widget["id"]
    assert "Liked" in widget_texts(body["updated_item"]["widget"])
    row = await stored(thread_id, widget["id"])
    assert "Liked" in widget_texts(row.data["widget"]) and row.text.endswith("liked")


async def test_site_actions_registered_in_settings_and_by_decorator(alice_chat, settings):
    from chat.chatkit import actions

    @actions.action("tests.decorated")
    async def decorated(call):
        return None

    settings.CHAT_ACTIONS = {"tests.hello": "tests.agent_factories.hello_action"}
    thread_id, widget = await demo_widget(alice_chat)
    try:
        events = await alice_chat.stream(
            "threads.custom_action",
            thread_id=thread_id,
            item_id=None,
            action=action("tests.hello", {"name": "Ada"}),
        )
        status, body = await alice_chat.call(
            "threads.sync_custom_action", thread_id=thread_id, action=action("tests.decorated")
        )
    finally:
        actions.REGISTRY.pop("tests.decorated")

    assert "Hello Ada from alice" in assistant_text(events)
    assert (status, body) == (200, {})


@pytest.mark.parametrize(
    "request_type, params, fragment",
    [
        ("threads.custom_action", {"action": action("demo.explode")}, "'demo.explode'"),
        ("threads.sync_custom_action", {"action": action("nope.never")}, "'nope.never'"),
        ("threads.custom_action", {"action": action("demo.count", {"count": -1})}, "count"),
        ("threads.sync_custom_action", {"action": action("demo.like", {"count": "x"})}, "count"),
        ("threads.sync_custom_action", {"action": action("demo.count", {"count": 1})},
         "threads.custom_action"),
        ("threads.custom_action", {"action": {"payload": {}}}, "action.type"),
    ],
)
async def test_bad_actions_get_400_naming_the_problem(alice_chat, request_type, params, fragment):
    thread_id, widget = await demo_widget(alice_chat)

    response = await alice_chat.post(
        {
            "type": request_type,
            "params": {"thread_id": thread_id, "item_id": widget["id"], **params},
        }
    )

    assert response.status_code == 400
    assert fragment in response.json()["detail"]


async def test_an_action_must_come_from_a_widget(alice_chat):
    thread_id, events = await alice_chat.create_thread("hello")
    answer_id = done_items(events, "assistant_message")[0]["id"]

    status, body = await alice_chat.call(
        "threads.sync_custom_action",
        thread_id=thread_id,
        item_id=answer_id,
        action=action("demo.like", {"count": 0}),
    )

    assert status == 400 and "widget" in body["detail"]


# --- client tools, effects, progress, sources ------------------------------------------------


async def test_a_client_tool_call_waits_for_the_page_then_the_answer_continues(alice_chat):
    thread_id, events = await alice_chat.create_thread("Please switch to dark mode")

    [call] = done_items(events, "client_tool_call")
    assert (call["name"], call["arguments"], call["status"]) == (
        "switch_theme",
        {"theme": "dark"},
        "pending",
    )
    assert not done_items(events, "assistant_message")

    events = await alice_chat.stream(
        "threads.add_client_tool_output", thread_id=thread_id, result={"theme": "dark"}
    )

    assert "switch_theme tool says" in assistant_text(events) and "dark" in assistant_text(events)
    row = await stored(thread_id, call["id"])
    assert row.data["status"] == "completed" and row.data["output"] == {"theme": "dark"}


async def test_client_tool_output_without_a_waiting_call_is_400(alice_chat):
    thread_id, _ = await alice_chat.create_thread("hello")

    status, body = await alice_chat.call(
        "threads.add_client_tool_output", thread_id=thread_id, result={}
    )

    assert status == 400 and "client tool call" in body["detail"]


async def test_a_client_effect_streams_and_is_not_stored(alice_chat):
    thread_id, events = await alice_chat.create_thread("Let's celebrate!")

    [effect] = [event for event in events if event["type"] == "client_effect"]
    assert effect["name"] == "celebrate" and effect["data"]["message"]
    rows = [row.type async for row in ThreadItem.objects.filter(thread_id=thread_id)]
    assert "client_effect" not in rows


async def test_a_long_tool_reports_progress(alice_chat):
    _, events = await alice_chat.create_thread("Run a long task")

    progress = [event["text"] for event in events if event["type"] == "progress_update"]
    assert progress == ["Step 1 of 3…", "Step 2 of 3…", "Step 3 of 3…"]
    assert "Finished all 3 steps" in assistant_text(events)


async def test_sources_are_streamed_stored_listed_and_kept_in_history(alice_chat, settings):
    from tests import agent_factories

    thread_id, events = await alice_chat.create_thread("Cite a source please")

    [answer] = done_items(events, "assistant_message")
    [annotation] = answer["content"][0]["annotations"]
    assert annotation["source"]["type"] == "url"
    assert annotation["source"]["url"] == "https://docs.djangoproject.com/"
    assert any(
        event["type"] == "thread.item.updated"
        and event["update"]["type"] == "assistant_message.content_part.annotation_added"
        for event in events
    )
    status, page = await alice_chat.call("items.list", thread_id=thread_id, order="asc")
    assert page["data"][-1]["content"][0]["annotations"] == [annotation]

    settings.CHAT_AGENT = "tests.agent_factories.spy_factory"
    agent_factories.spy_model.calls.clear()
    await alice_chat.send(thread_id, "thanks")
    history = json.dumps(agent_factories.spy_model.calls[-1]["input"])
    assert "[Sources: Django documentation (https://docs.djangoproject.com/)]" in history


# --- structured input ------------------------------------------------------------------------


async def test_structured_input_reaches_the_agent(alice_chat, bob_chat):
    thread_id, events = await alice_chat.create_thread("Ask me a question")
    [question] = done_items(events, "structured_input")
    assert question["status"] == "pending"
    submission = {"status": "answered", "answers": {"colour": {"values": ["Blue"]}}}

    response = await bob_chat.post(
        {
            "type": "threads.add_structured_input",
            "params": {"thread_id": thread_id, "item_id": question["id"], "input": submission},
        }
    )
    assert response.status_code == 404

    events = await alice_chat.stream(
        "threads.add_structured_input",
        thread_id=thread_id,
        item_id=question["id"],
        input=submission,
    )

    [replaced] = [event["item"] for event in events if event["type"] == "thread.item.replaced"]
    assert replaced["status"] == "answered"
    assert "Which colour do you like best?: Blue" in assistant_text(events)
    status, body = await alice_chat.call(
        "threads.add_structured_input", thread_id=thread_id, item_id=question["id"],
        input=submission,
    )
    assert status == 400 and "already" in body["detail"]


# --- model and tool choice -------------------------------------------------------------------

MODELS = [
    {"id": "demo-small", "label": "Small", "provider": "demo"},
    {"id": "demo-large", "label": "Large", "provider": "demo", "default": True},
]


async def test_a_chosen_model_answers_and_is_recorded_with_the_usage(alice_chat, settings):
    settings.CHAT_MODELS = MODELS

    events = await alice_chat.stream(
        "threads.create", input=user_input("hi", inference_options={"model": "demo-small"})
    )

    assert "You picked the model “demo-small”" in assistant_text(events)
    turn = await Turn.objects.answers().aget()
    assert turn.model == "demo-small" and turn.output_tokens > 0


async def test_the_configured_model_is_recorded_when_none_is_chosen(alice_chat):
    await alice_chat.create_thread("hi")

    assert (await Turn.objects.answers().aget()).model == "offline-demo"


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"model": "gpt-9-ultra"}, "'gpt-9-ultra'"),
        ({"tool_choice": {"id": "rm-rf"}}, "'rm-rf'"),
    ],
)
async def test_unknown_model_or_tool_choice_is_400(alice_chat, settings, options, fragment):
    settings.CHAT_MODELS = MODELS

    response = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("hi", inference_options=options)}}
    )

    assert response.status_code == 400 and fragment in response.json()["detail"]


async def test_a_chosen_composer_tool_is_called(alice_chat):
    await alice_chat.create_thread("an earlier chat about pelicans")

    events = await alice_chat.stream(
        "threads.create",
        input=user_input("pelicans", inference_options={"tool_choice": {"id": "search"}}),
    )

    workflow = done_items(events, "workflow")
    tasks = workflow[0]["workflow"]["tasks"]
    assert tasks[0]["title"] == "Called search_my_conversations"
    assert "search_my_conversations tool says" in assistant_text(events)


# --- @-mentions -------------------------------------------------------------------------------


async def test_tag_search_finds_only_the_users_own_threads(alice, bob, alice_chat, bob_chat):
    alice_thread, _ = await alice_chat.create_thread("Budget for the trip")
    await bob_chat.create_thread("Budget for bob")
    client = AsyncClient()

    response = await client.get("/chatkit/entities/", {"q": "budget"}, headers=bearer(alice))

    assert response.status_code == 200
    assert [entity["id"] for entity in response.json()["entities"]] == [alice_thread]
    assert (await client.get("/chatkit/entities/", {"q": "x"})).status_code == 401
    preview = await client.get(
        "/chatkit/entities/preview/", {"id": alice_thread}, headers=bearer(alice)
    )
    assert preview.status_code == 200
    assert "Budget for the trip" in widget_texts(preview.json()["preview"])
    foreign = await client.get(
        "/chatkit/entities/preview/", {"id": alice_thread}, headers=bearer(bob)
    )
    assert foreign.status_code == 404 and "Budget" not in foreign.content.decode()


async def test_tags_reach_the_agent_as_structured_context(alice_chat):
    tag = {
        "type": "input_tag",
        "id": "thr_1",
        "text": "Trip budget",
        "data": {"kind": "thread"},
        "group": "Conversations",
        "interactive": True,
    }
    content = [{"type": "input_text", "text": "What about "}, tag]

    _, events = await alice_chat.create_thread("placeholder")
    events = await alice_chat.stream(
        "threads.create",
        input={"content": content, "attachments": [], "inference_options": {}},
    )

    assert "You mentioned Trip budget" in assistant_text(events)
    [message] = done_items(events, "user_message")
    assert message["content"][1]["id"] == "thr_1"


# --- dictation --------------------------------------------------------------------------------


def transcribe_request(data: bytes, mime_type: str = "audio/webm;codecs=opus") -> dict:
    audio = base64.b64encode(data).decode()
    return {"type": "input.transcribe", "params": {"audio_base64": audio, "mime_type": mime_type}}


async def test_dictation_off_says_how_to_turn_it_on(alice_chat):
    response = await alice_chat.post(transcribe_request(b"audio"))

    assert response.status_code == 400
    assert "CHAT_TRANSCRIPTION_MODEL" in response.json()["detail"]


async def test_dictation_transcribes_through_the_compatible_server(alice_chat, settings):
    with fake_chat_completions_server() as (base_url, state):
        settings.CHAT_MODEL_BASE_URL = base_url
        settings.CHAT_TRANSCRIPTION_MODEL = "whisper-local"

        status, body = await alice_chat.call(
            "input.transcribe",
            audio_base64=base64.b64encode(b"RIFF-audio").decode(),
            mime_type="audio/ogg",
        )

    assert (status, body) == (200, {"text": "Transcribed 10 bytes of audio/ogg."})
    assert state.transcriptions == [("whisper-local", 10)]


@pytest.mark.parametrize(
    "request_body, status, fragment",
    [
        (transcribe_request(b"x" * 2000), 413, "larger than 1000\xa0bytes"),
        (transcribe_request(b"audio", "video/mp4"), 415, "video/mp4"),
        (transcribe_request(b"audio", "text/plain"), 415, "text/plain"),
        ({"type": "input.transcribe", "params": {"audio_base64": "%%%", "mime_type": "audio/webm"}},
         400, "base64"),
    ],
)
async def test_bad_audio_is_refused(alice_chat, settings, request_body, status, fragment):
    settings.CHAT_MODEL_BASE_URL = "http://127.0.0.1:9/v1"
    settings.CHAT_TRANSCRIPTION_MODEL = "whisper-local"
    settings.CHAT_DICTATION_MAX_BYTES = 1000

    response = await alice_chat.post(request_body)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert fragment in response.json()["detail"]


# --- isolation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_type, extra",
    [
        ("threads.custom_action", {"action": action("demo.count", {"count": 0})}),
        ("threads.sync_custom_action", {"action": action("demo.like", {"count": 0})}),
        ("threads.add_client_tool_output", {"result": {"theme": "dark"}}),
    ],
)
async def test_another_users_thread_and_items_are_not_found(
    alice_chat, bob_chat, request_type, extra
):
    thread_id, widget = await demo_widget(alice_chat)
    bob_thread, _ = await bob_chat.create_thread("bob's own")
    rows = ThreadItem.objects.filter(thread_id=thread_id)
    before = [(row.item_id, row.data) async for row in rows]

    on_alices_thread = await bob_chat.post(
        {"type": request_type, "params": {"thread_id": thread_id, "item_id": widget["id"]} | extra}
    )
    alices_item_on_bobs_thread = await bob_chat.post(
        {"type": request_type, "params": {"thread_id": bob_thread, "item_id": widget["id"]} | extra}
    )

    assert on_alices_thread.status_code == 404
    if "action" in request_type:
        assert alices_item_on_bobs_thread.status_code == 404
    assert b"Clicked" not in on_alices_thread.content + alices_item_on_bobs_thread.content
    after = [(row.item_id, row.data) async for row in rows]
    assert after == before


# --- all sixteen --------------------------------------------------------------------------------


async def test_every_request_type_works_through_the_endpoint(alice_chat, settings):
    """One conversation that uses each of the protocol's sixteen request types once."""
    used: list[str] = []

    async def stream(request_type, **params):
        used.append(request_type)
        return await alice_chat.stream(request_type, **params)

    async def call(request_type, **params):
        used.append(request_type)
        status, body = await alice_chat.call(request_type, **params)
        assert status == 200, body
        return body

    created = await stream("threads.create", input=user_input("Show me a widget"))
    thread_id = created[0]["thread"]["id"]
    [widget] = done_items(created, "widget")
    dark = user_input("switch to dark mode")
    await stream("threads.add_user_message", thread_id=thread_id, input=dark)
    await stream("threads.add_client_tool_output", thread_id=thread_id, result={"ok": True})
    asked = await stream(
        "threads.add_user_message", thread_id=thread_id, input=user_input("ask me a question")
    )
    used.remove("threads.add_user_message")
    [question] = done_items(asked, "structured_input")
    await stream(
        "threads.add_structured_input",
        thread_id=thread_id,
        item_id=question["id"],
        input={"answers": {"colour": {"values": ["Red"]}}},
    )
    await stream(
        "threads.custom_action",
        thread_id=thread_id,
        item_id=widget["id"],
        action=action("demo.count", {"count": 3}),
    )
    await call(
        "threads.sync_custom_action",
        thread_id=thread_id,
        item_id=widget["id"],
        action=action("demo.like", {"count": 4}),
    )
    user_item = done_items(created, "user_message")[0]
    retried = await stream("threads.retry_after_item", thread_id=thread_id, item_id=user_item["id"])
    answer = done_items(retried, "widget") or done_items(retried, "assistant_message")
    await call("threads.get_by_id", thread_id=thread_id)
    await call("threads.list")
    items = await call("items.list", thread_id=thread_id)
    await call("items.feedback", thread_id=thread_id, item_ids=[answer[0]["id"]], kind="positive")
    await call("threads.update", thread_id=thread_id, title="Renamed")
    attachment = await call(
        "attachments.create", name="notes.txt", size=5, mime_type="text/plain"
    )
    await call("attachments.delete", attachment_id=attachment["id"])
    with fake_chat_completions_server() as (base_url, _state):
        settings.CHAT_MODEL_BASE_URL = base_url
        settings.CHAT_TRANSCRIPTION_MODEL = "whisper-local"
        audio = base64.b64encode(b"hi").decode()
        await call("input.transcribe", audio_base64=audio, mime_type="audio/webm")
    await call("threads.delete", thread_id=thread_id)

    every_type = {
        request.model_fields["type"].default for request in get_args(get_args(ChatKitReq)[0])
    }
    assert len(every_type) == 16
    assert set(used) == every_type
    assert items["data"]


# --- the demo reads attachments ---------------------------------------------------------------


async def test_the_demo_tells_typed_text_from_attached_files(alice, alice_chat):
    from tests.test_attachments import PNG, upload

    notes = await upload(alice, "notes.txt", b"remember the milk", "text/plain")
    picture = await upload(alice, "pixel.png", PNG, "image/png")

    events = await alice_chat.stream(
        "threads.create", input=user_input("What did I send?", [notes["id"], picture["id"]])
    )

    reply = assistant_text(events)
    assert "You said: “What did I send?”" in reply
    assert "notes.txt (it begins “remember the milk”)" in reply
    assert "the image pixel.png" in reply


async def test_a_used_up_token_quota_also_stops_continuations(alice_chat, settings):
    thread_id, _ = await alice_chat.create_thread("Please switch to dark mode")
    settings.CHAT_DAILY_TOKEN_QUOTA = 1

    response = await alice_chat.post(
        {
            "type": "threads.add_client_tool_output",
            "params": {"thread_id": thread_id, "result": {"theme": "dark"}},
        }
    )

    assert response.status_code == 429 and response["Retry-After"]
    calls = ThreadItem.objects.filter(thread_id=thread_id, type="client_tool_call")
    [call] = [row async for row in calls]
    assert call.data["status"] == "pending"


async def test_a_synchronous_handler_sent_as_a_streamed_action_replaces_the_widget(alice_chat):
    thread_id, widget = await demo_widget(alice_chat)

    events = await alice_chat.stream(
        "threads.custom_action",
        thread_id=thread_id,
        item_id=widget["id"],
        action=action("demo.like", {"count": 5, "liked": False}),
    )

    [replaced] = [event["item"] for event in events if event["type"] == "thread.item.replaced"]
    assert "Liked" in widget_texts(replaced["widget"])
    assert "Clicked 5 times" in widget_texts((await stored(thread_id, widget["id"])).data["widget"])


async def test_widget_items_round_trip_through_the_store(alice):
    from datetime import datetime

    from chatkit.types import ThreadMetadata, WidgetItem

    from chat.assistant.demo_widgets import counter_widget
    from chat.chatkit.store import DjangoStore
    from chat.context import RequestContext

    store, context = DjangoStore(), RequestContext(user=alice)
    thread = ThreadMetadata(id="thr_widgets", created_at=datetime.now())
    await store.save_thread(thread, context)
    item = WidgetItem(
        id="msg_w",
        thread_id=thread.id,
        created_at=datetime.now(),
        widget=counter_widget(7, liked=True),
        copy_text="seven",
    )

    await store.add_thread_item(thread.id, item, context)
    loaded = await store.load_item(thread.id, "msg_w", context)
    page = await store.load_thread_items(thread.id, None, 10, "asc", context)

    assert isinstance(loaded, WidgetItem) and loaded.copy_text == "seven"
    assert widget_texts(loaded.widget.model_dump()) == widget_texts(item.widget.model_dump())
    assert widget_actions(loaded.widget.model_dump()) == widget_actions(item.widget.model_dump())
    assert [entry.id for entry in page.data] == ["msg_w"]
