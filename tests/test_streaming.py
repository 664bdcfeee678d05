"""Streaming behaviour over real ASGI: disconnects, keepalives, stream failures."""

import asyncio

import pytest

from chat.chatkit.sse import KEEPALIVE, sse_stream
from chat.models import ThreadItem
from tests.asgi import post_over_asgi
from tests.chatkit_client import parse_sse, user_input

pytestmark = pytest.mark.django_db(transaction=True)


async def test_disconnect_mid_answer_keeps_the_partial_answer(alice, settings):
    """With CHAT_CONTINUE_AFTER_DISCONNECT off, leaving stops the answer (tests/test_turns.py
    has the default, where it goes on)."""
    settings.CHAT_CONTINUE_AFTER_DISCONNECT = False
    settings.CHAT_DEMO_WORD_DELAY = 0.05
    body = {"type": "threads.create", "params": {"input": user_input("tell me a long story")}}

    chunks = await post_over_asgi(alice, body, disconnect_after_chunks=8)

    events = parse_sse(b"".join(chunks))
    thread_id = events[0]["thread"]["id"]
    streamed = "".join(
        e["update"]["delta"]
        for e in events
        if e["type"] == "thread.item.updated" and e["update"]["type"].endswith("text_delta")
    )
    assert streamed, "some words should have streamed before the hang-up"
    rows = [row async for row in ThreadItem.objects.filter(thread_id=thread_id)]
    kinds = [row.type for row in rows]
    assert kinds == ["user_message", "assistant_message", "sdk_hidden_context"]
    partial = rows[1].text
    assert partial.startswith(streamed)
    assert "restart the site." not in partial  # the full reply never finished


async def test_the_next_turn_after_a_cancel_does_not_continue_it(alice, alice_chat, settings):
    settings.CHAT_CONTINUE_AFTER_DISCONNECT = False
    settings.CHAT_DEMO_WORD_DELAY = 0.05
    body = {"type": "threads.create", "params": {"input": user_input("first")}}
    events = parse_sse(b"".join(await post_over_asgi(alice, body, disconnect_after_chunks=6)))
    thread_id = events[0]["thread"]["id"]
    settings.CHAT_DEMO_WORD_DELAY = 0

    answer = await alice_chat.send(thread_id, "second")

    assert answer[-1]["type"] != "error"
    hidden = await ThreadItem.objects.filter(
        thread_id=thread_id, type="sdk_hidden_context"
    ).afirst()
    assert "cancelled" in hidden.text


async def test_keepalive_comments_while_the_model_is_silent():
    chunks = []
    two_keepalives_sent = asyncio.Event()

    async def silent_until_two_keepalives():
        await two_keepalives_sent.wait()
        yield b"data: {}\n\n"

    async with asyncio.timeout(10):  # no keepalive at all would wait forever
        async for chunk in sse_stream(silent_until_two_keepalives(), keepalive_seconds=0.05):
            chunks.append(chunk)
            if chunks.count(KEEPALIVE) == 2:
                two_keepalives_sent.set()

    assert chunks[:2] == [KEEPALIVE, KEEPALIVE]
    assert chunks[-1] == b"data: {}\n\n"
    assert set(chunks[:-1]) == {KEEPALIVE}  # the silence held only keepalives


async def test_a_failure_inside_the_stream_becomes_an_error_event():
    async def broken_events():
        yield b"data: {}\n\n"
        raise RuntimeError("database went away")

    chunks = [chunk async for chunk in sse_stream(broken_events(), keepalive_seconds=5)]

    last = parse_sse(chunks[-1])[0]
    assert last["type"] == "error" and last["allow_retry"] is True
    assert "database went away" not in last["message"]  # no internals leak to the client


async def test_cancelling_the_relay_cancels_the_source_inside_it():
    cancelled_inside = asyncio.Event()
    relaying = asyncio.Event()

    async def endless_events():
        try:
            while True:
                yield b"data: {}\n\n"
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled_inside.set()
            raise

    async def consume():
        async for _ in sse_stream(endless_events(), keepalive_seconds=5):
            relaying.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(10):
        await relaying.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled_inside.is_set()


async def test_a_hang_up_that_arrives_with_the_next_chunk_still_ends_the_stream():
    """Django cancels the relay when the client hangs up; if the next chunk arrives in the
    same instant, the cancel must still win, or the answer runs on for nobody."""
    outcomes = []
    received = []
    first_received = asyncio.Event()

    async def record(outcome):
        outcomes.append(outcome)

    async def answer_then_hang_up():
        yield b"data: 0\n\n"
        await first_received.wait()  # the relay now waits for the next chunk
        yield b"data: 1\n\n"
        relay_task.cancel()  # in the same step that queued chunk 1
        yield b"data: 2\n\n"

    async def relay():
        async for chunk in sse_stream(answer_then_hang_up(), keepalive_seconds=5, on_close=record):
            received.append(chunk)
            first_received.set()

    relay_task = asyncio.create_task(relay())
    with pytest.raises(asyncio.CancelledError):
        await relay_task
    assert received == [b"data: 0\n\n"]
    assert outcomes == ["cancelled"]
