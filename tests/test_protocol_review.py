"""Widgets and cited sources where staff read conversations: the admin transcript and the
exports; and the pieces of the protocol that need no HTTP (item id remapping, the demo
model reading attachments and tags, the protocol settings' checks)."""

import json
from datetime import timedelta

import pytest
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    EntitySource,
    FileSource,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    URLSource,
    WidgetItem,
)
from django.core.management import call_command

from chat.assistant.demo_model import demo_reply
from chat.assistant.demo_widgets import counter_widget
from chat.assistant.run import with_store_item_ids
from chat.conf import app_settings
from chat.review import export, items
from chat.setting_parsers import InvalidSetting
from tests.factories import T0, add, make_thread

pytestmark = pytest.mark.django_db


def cited_answer(thread, item_id: str = "msg_cited") -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread.id,
        created_at=T0 + timedelta(seconds=2),
        content=[
            AssistantMessageContent(
                text="Django is a web framework.",
                annotations=[
                    Annotation(source=URLSource(url="https://djangoproject.com/", title="Django")),
                    Annotation(source=FileSource(filename="notes.pdf", title="My notes")),
                    Annotation(source=EntitySource(id="thr_9", title="Earlier chat")),
                    Annotation(source=URLSource(url="javascript:alert(1)", title="Bad link")),
                ],
            )
        ],
    )


def demo_card(thread) -> WidgetItem:
    return WidgetItem(
        id="msg_card",
        thread_id=thread.id,
        created_at=T0 + timedelta(seconds=3),
        widget=counter_widget(2, liked=True),
        copy_text="Demo widget: clicked 2 times, liked",
    )


def test_sources_and_widgets_as_a_reader_sees_them(alice):
    thread = make_thread(alice, "thr_src", "Sources")
    answer = add(thread, cited_answer(thread))
    card = add(thread, demo_card(thread))

    view = items.describe_item(answer.type, answer.data, answer.text)
    widget = items.describe_item(card.type, card.data, card.text)

    assert [(s.kind, s.title, s.link, s.detail) for s in view.sources] == [
        ("url", "Django", "https://djangoproject.com/", ""),
        ("file", "My notes", "", "notes.pdf"),
        ("entity", "Earlier chat", "", "thr_9"),
        ("url", "Bad link", "", ""),  # never a javascript: link
    ]
    assert widget.widget_lines == [
        "Demo widget",
        counter_widget().children[1].value,
        "Clicked 2 times",
        "[Count]",
        "[Liked]",
    ]


def test_the_admin_transcript_shows_widgets_and_sources(admin_client, alice):
    thread = make_thread(alice, "thr_adm", "Sources")
    add(thread, cited_answer(thread))
    add(thread, demo_card(thread))

    html = admin_client.get(f"/admin/chat/thread/{thread.id}/change/").content.decode()

    assert 'Source: <a href="https://djangoproject.com/"' in html
    assert "Source: Earlier chat <span" in html and "(thr_9)" in html
    assert "javascript:alert" not in html
    assert '<div class="chat-widget"><div>Demo widget</div><div>A card from' in html
    assert "<div>Clicked 2 times</div>" in html
    assert "<div>[Liked]</div>" in html


def test_exports_keep_widgets_and_sources(alice):
    thread = make_thread(alice, "thr_exp", "Sources")
    add(thread, cited_answer(thread))
    add(thread, demo_card(thread))
    threads = type(thread).objects.filter(pk=thread.pk)

    markdown = "".join(export.markdown_document(threads))
    document = json.loads("".join(export.json_document(threads)))

    sources = "Sources:\n\n- [Django](https://djangoproject.com/)\n- My notes\n- Earlier chat"
    assert sources in markdown
    # Button labels in brackets, escaped so Markdown shows them as written.
    assert "> Clicked 2 times\n> \\[Count\\]\n> \\[Liked\\]" in markdown
    [answer, card] = document["threads"][0]["items"]
    sources = [a["source"]["type"] for a in answer["data"]["content"][0]["annotations"]]
    assert sources == ["url", "file", "entity", "url"]
    assert card["data"]["widget"]["type"] == "Card" and card["text"].endswith("liked")


# --- item ids -----------------------------------------------------------------------------


async def test_removed_and_replaced_events_name_the_store_id():
    """A guardrail takes back an answer the client was shown under its store id."""
    fake = "__fake_id__"
    answer = AssistantMessageItem(id=fake, thread_id="t", created_at=T0, content=[])

    async def model_events():
        yield ThreadItemAddedEvent(item=answer)
        yield ThreadItemDoneEvent(item=answer)
        yield ThreadItemReplacedEvent(item=answer)
        yield ThreadItemRemovedEvent(item_id=fake)

    ids = iter(["msg_store_1", "msg_store_2"])
    events = [event async for event in with_store_item_ids(model_events(), lambda: next(ids))]

    assert [event.item.id for event in events[:3]] == ["msg_store_1"] * 3
    assert events[3].item_id == "msg_store_1"


# --- the demo model -------------------------------------------------------------------------


def test_the_demo_separates_typed_text_from_attached_files_and_names_images():
    message = {
        "role": "user",
        "type": "message",
        "content": [
            {"type": "input_text", "text": "What is in these?"},
            {
                "type": "input_text",
                "text": "The user attached the file notes.txt (text/plain, 12 bytes):\n"
                '<file name="notes.txt">\nbuy milk now\n</file>',
            },
            {"type": "input_text", "text": "[The user attached an image: cat.png (image/png).]"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"},
        ],
    }

    reply = demo_reply([message])

    assert "You said: “What is in these?”" in reply
    assert "notes.txt (it begins “buy milk now”)" in reply
    assert "the image cat.png" in reply
    assert "<file" not in reply


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, fragment",
    [
        ("ACTIONS", {"x.y": "no.such.module.handler"}, "cannot be imported"),
        ("ACTIONS", ["x"], "not a dict"),
        ("MODELS", [{"id": "a"}], "bad entry [0]"),
        ("MODELS", [{"id": "a", "label": "A", "provider": "mars"}], "unknown provider"),
        ("MODELS", [{"id": "a", "label": "A"}, {"id": "a", "label": "B"}], "twice"),
        ("COMPOSER_TOOLS", [{"id": "a", "label": "A"}], "bad entry [0]"),
        ("ENTITY_SEARCH", "chat.nothing.here", "cannot be imported"),
    ],
)
def test_bad_protocol_settings_are_named_at_start_up(settings, name, value, fragment):
    setattr(settings, f"CHAT_{name}", value)

    with pytest.raises(InvalidSetting) as raised:
        app_settings.load(name)
    assert f"CHAT_{name}=" in raised.value.message and fragment in raised.value.message

    with pytest.raises(Exception, match=f"CHAT_{name}"):
        call_command("check")


@pytest.mark.parametrize(
    "text, tool",
    [
        ("Show me a widget", "show_demo_widget"),
        ("Stop me, widget", None),
        ("Please switch to dark mode", "switch_theme"),
        ("Is dark mode bad for the eyes?", None),
        ("Let's celebrate!", "celebrate"),
        ("Run a long task", "long_task"),
        ("What progress did we make?", None),
        ("Ask me a question", "ask_preferences"),
        ("Can you ask me later?", None),
    ],
)
def test_only_the_documented_phrases_set_off_the_demos_tools(text, tool):
    from chat.assistant.demo_model import planned_tool_call

    names = {"show_demo_widget", "switch_theme", "celebrate", "long_task", "ask_preferences"}
    planned = planned_tool_call([{"role": "user", "content": text}], names)

    assert (planned[0] if planned else None) == tool
