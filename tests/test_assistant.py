"""The assistant: pluggable agent, instructions, tools, MCP servers, history, usage."""

import json
import logging
from datetime import date

import pytest

from chat.assistant.search import search_conversations
from chat.models import Thread, ThreadItem, Turn
from tests.agent_factories import spy_model
from tests.chatkit_client import assistant_text, user_input
from tests.instances import free_port
from tests.mcp_server import running_mcp_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def spy(settings):
    settings.CHAT_AGENT = "tests.agent_factories.spy_factory"
    spy_model.calls.clear()
    return spy_model


def input_texts(model_input) -> str:
    """Everything the model was given as one string, to look for earlier turns in it."""
    return json.dumps(model_input, ensure_ascii=False)


async def stored(thread_id: str) -> list[ThreadItem]:
    return [row async for row in ThreadItem.objects.filter(thread_id=thread_id)]


async def test_a_custom_agent_factory_is_used(alice_chat, settings):
    settings.CHAT_AGENT = "tests.agent_factories.pirate_factory"
    spy_model.calls.clear()

    _, events = await alice_chat.create_thread("Ahoy?")

    assert spy_model.calls[-1]["instructions"] == "Talk like a pirate."
    assert spy_model.calls[-1]["tools"] == []
    assert "Ahoy?" in assistant_text(events)


async def test_instructions_name_the_user_the_date_and_the_page(alice_chat, alice, spy, settings):
    settings.CHAT_INSTRUCTIONS = "You help people with gardening."
    alice.first_name, alice.last_name = "Alice", "Liddell"
    await alice.asave()
    page = {"url": "https://site.test/roses", "title": "Growing roses", "selection": "aphids"}

    await alice_chat.stream("threads.create", metadata={"page": page}, input=user_input("hi"))

    instructions = spy.calls[-1]["instructions"]
    assert instructions.startswith("You help people with gardening.")
    assert "Alice Liddell" in instructions
    assert date.today().isoformat() in instructions
    assert "Growing roses" in instructions and "https://site.test/roses" in instructions
    assert "aphids" in instructions


async def test_the_second_turn_sees_the_first(alice_chat, spy):
    thread_id, first = await alice_chat.create_thread("My cat is called Mio.")
    await alice_chat.send(thread_id, "What is my cat called?")

    second_input = input_texts(spy.calls[-1]["input"])
    assert "My cat is called Mio." in second_input
    assert assistant_text(first)[:40] in second_input


async def test_history_is_a_bounded_window(alice_chat, spy, settings):
    settings.CHAT_HISTORY_ITEMS = 3
    thread_id, _ = await alice_chat.create_thread("oldest message")
    await alice_chat.send(thread_id, "middle message")
    await alice_chat.send(thread_id, "newest message")

    last_input = input_texts(spy.calls[-1]["input"])
    assert "newest message" in last_input and "middle message" in last_input
    assert "oldest message" not in last_input


async def test_asking_the_time_calls_the_time_tool_and_shows_it(alice_chat, spy):
    thread_id, events = await alice_chat.create_thread("What time is it?")

    workflow = next(
        e["item"] for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "workflow"
    )
    task = workflow["workflow"]["tasks"][0]
    assert task["title"] == "Called current_time" and task["status_indicator"] == "complete"
    assert "current_time tool says" in assistant_text(events)
    assert [row.type for row in await stored(thread_id)] == [
        "user_message",
        "workflow",
        "assistant_message",
    ]


async def test_tool_results_reach_the_model_on_the_next_turn(alice_chat, spy):
    thread_id, _ = await alice_chat.create_thread("What time is it?")
    await alice_chat.send(thread_id, "Thanks!")

    next_input = input_texts(spy.calls[-1]["input"])
    assert "Called current_time" in next_input and "Result:" in next_input


async def test_search_finds_only_the_users_own_conversations(alice_chat, bob_chat, bob):
    await alice_chat.create_thread("alice's pineapple secret recipe")
    await bob_chat.create_thread("bob likes pineapple pizza")

    thread_id, events = await bob_chat.create_thread("search my conversations for pineapple")

    answer = assistant_text(events)
    assert "bob likes pineapple pizza" in answer
    assert "secret" not in answer and "alice" not in answer
    matches = await search_conversations(bob.pk, "pineapple", exclude_thread_id=thread_id)
    assert {match.thread_title for match in matches} == {"bob likes pineapple pizza"}


async def test_an_mcp_servers_tool_is_called_and_its_result_kept(alice_chat, spy, settings):
    with running_mcp_server() as url:
        settings.CHAT_MCP_SERVERS = [{"name": "inventory", "url": url, "timeout": 5}]
        thread_id, events = await alice_chat.create_thread('use stock_level {"product": "apples"}')
        await alice_chat.send(thread_id, "Great, thanks.")

    assert "stock_level" in spy.calls[0]["tools"]
    assert "apples: 42 units in stock" in assistant_text(events)
    workflow = next(row for row in await stored(thread_id) if row.type == "workflow")
    assert "apples: 42 units in stock" in json.dumps(workflow.data)
    assert "apples: 42 units in stock" in input_texts(spy.calls[-1]["input"])


async def test_an_unreachable_mcp_server_does_not_break_the_turn(alice_chat, settings, caplog):
    settings.CHAT_MCP_SERVERS = [
        {"name": "inventory", "url": f"http://127.0.0.1:{free_port()}/mcp", "timeout": 2}
    ]

    with caplog.at_level(logging.WARNING, logger="chat.assistant.mcp"):
        _, events = await alice_chat.create_thread("Hello?")

    notice = next(e for e in events if e["type"] == "notice")
    assert "inventory" in notice["message"] and notice["level"] == "warning"
    assert "Hello?" in assistant_text(events)
    assert "MCP server inventory" in caplog.text


async def test_mcp_servers_are_closed_after_the_turn(alice_chat, settings, monkeypatch):
    closed = []
    import chat.assistant.mcp

    real_close = chat.assistant.mcp.close_quietly

    async def recording_close(server):
        closed.append(server.name)
        await real_close(server)

    monkeypatch.setattr(chat.assistant.mcp, "close_quietly", recording_close)
    with running_mcp_server() as url:
        settings.CHAT_MCP_SERVERS = [{"name": "inventory", "url": url}]
        await alice_chat.create_thread("Hello")

    assert closed == ["inventory"]


async def test_token_usage_is_stored_per_turn_thread_and_user(alice_chat, alice):
    thread_id, _ = await alice_chat.create_thread("count my tokens")
    await alice_chat.send(thread_id, "and these too")

    usage = [row async for row in Turn.objects.answers().filter(user=alice)]
    thread = await Thread.objects.aget(pk=thread_id)
    assert len(usage) == 2 and all(row.thread_id == thread_id for row in usage)
    assert thread.input_tokens == sum(row.input_tokens for row in usage) > 0
    assert thread.output_tokens == sum(row.output_tokens for row in usage) > 0
