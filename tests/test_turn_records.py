"""What a real turn leaves for the back office: the page context with the user's message,
one usage row with the model and its timings, and a record of a refusal by a limit."""

from datetime import UTC, datetime

import pytest

from chat.models import LimitRefusal, ThreadItem, Turn
from tests.chatkit_client import user_input

pytestmark = pytest.mark.django_db(transaction=True)

FROZEN = datetime(2025, 5, 6, 18, 0, 30, tzinfo=UTC)


async def test_the_users_message_keeps_the_page_it_was_asked_from(alice_chat):
    page = {"url": "https://example.test/docs", "title": "Docs", "selection": "    indented"}
    await alice_chat.stream("threads.create", metadata={"page": page}, input=user_input("hi"))

    question = await ThreadItem.objects.aget(type="user_message")
    answer = await ThreadItem.objects.aget(type="assistant_message")
    assert question.page == {
        "url": "https://example.test/docs",
        "title": "Docs",
        "selection": "indented",  # trimmed, as chat.context bounds it
    }
    assert answer.page == {}


async def test_a_message_without_page_context_stores_none(alice_chat):
    await alice_chat.stream("threads.create", input=user_input("hi"))
    assert (await ThreadItem.objects.aget(type="user_message")).page == {}


async def test_each_answer_records_its_model_and_timings(alice_chat, settings):
    settings.CHAT_DEMO_WORD_DELAY = 0.01
    await alice_chat.stream("threads.create", input=user_input("hello there"))

    turn = await Turn.objects.answers().aget()
    assert turn.model == "offline-demo" and turn.state == Turn.State.COMPLETE
    assert turn.first_token_ms is not None and turn.duration_ms is not None
    assert 0 <= turn.first_token_ms <= turn.duration_ms


async def test_a_refusal_by_a_limit_is_recorded(alice_chat, settings, monkeypatch):
    monkeypatch.setattr("chat.limits.clock", FROZEN.timestamp)
    settings.CHAT_RATE_LIMIT = "1/min"
    await alice_chat.stream("threads.create", input=user_input("one"))
    refused = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("two")}}
    )

    assert refused.status_code == 429
    assert [row.limit async for row in LimitRefusal.objects.all()] == ["rate"]


async def test_a_refusal_for_concurrent_answers_names_that_limit(alice_chat, settings):
    settings.CHAT_MAX_CONCURRENT_STREAMS = 1
    settings.CHAT_DEMO_WORD_DELAY = 0.5
    first = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("long answer please")}}
    )
    assert first.status_code == 200
    second = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("another")}}
    )
    assert second.status_code == 429
    assert [row.limit async for row in LimitRefusal.objects.all()] == ["streams"]
