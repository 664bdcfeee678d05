"""Answers as jobs of their own: they outlive the request, resume, stop, checkpoint and
recover from a lost worker (one process here; tests/test_workers.py runs two)."""

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.utils import timezone

from chat.assistant.converter import SiteItemConverter
from chat.chatkit import recovery
from chat.chatkit.runner import RUNNERS
from chat.models import Thread, ThreadItem, Turn
from tests.asgi import post_over_asgi
from tests.chatkit_client import assistant_text, bearer, parse_sse, user_input

pytestmark = pytest.mark.django_db(transaction=True)


def create_body(text: str) -> dict:
    return {"type": "threads.create", "params": {"input": user_input(text)}}


def text_deltas(events: list[dict]) -> str:
    return "".join(
        event["update"]["delta"]
        for event in events
        if event["type"] == "thread.item.updated" and event["update"]["type"].endswith("delta")
    )


async def wait_until(condition, timeout: float = 10.0):
    """Poll an async condition until it holds; fail when it does not within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition did not hold in time"
        await asyncio.sleep(0.02)


async def finished_turn(thread_id: str) -> Turn | None:
    return await Turn.objects.filter(thread_id=thread_id).exclude(state="running").afirst()


async def stored_answer(thread_id: str) -> str:
    row = await ThreadItem.objects.filter(thread_id=thread_id, type="assistant_message").afirst()
    return row.text if row else ""


async def resume(user, thread_id: str):
    return await AsyncClient().get(
        f"/chatkit/threads/{thread_id}/resume/", headers=bearer(user)
    )


async def lost_turn(user, thread_id: str, turn_id: str = "turn_lost") -> Turn:
    """A turn left running by a worker that died: its lease ran out a second ago."""
    now = timezone.now()
    return await Turn.objects.acreate(
        id=turn_id, user=user, thread_id=thread_id, kind="threads.add_user_message",
        worker="gone:1", started_at=now - timedelta(seconds=30),
        lease_expires_at=now - timedelta(seconds=1),
    )


async def stop(user, thread_id: str):
    return await AsyncClient().post(f"/chatkit/threads/{thread_id}/stop/", headers=bearer(user))


async def test_hanging_up_leaves_the_answer_running_to_completion(alice, alice_chat, settings):
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    chunks = await post_over_asgi(alice, create_body("hello there"), disconnect_after_chunks=5)
    thread_id = parse_sse(b"".join(chunks))[0]["thread"]["id"]

    turn = await wait_until(lambda: finished_turn(thread_id))

    assert turn.state == Turn.State.COMPLETE
    full = await stored_answer(thread_id)
    assert full.endswith("restart the site.")  # the demo reply's last words
    hidden = ThreadItem.objects.filter(thread_id=thread_id, type="sdk_hidden_context")
    assert not await hidden.aexists()


async def test_a_second_client_resumes_mid_answer_with_no_gap_and_no_duplicate(
    alice, alice_chat, settings
):
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    first = await post_over_asgi(alice, create_body("tell me"), disconnect_after_chunks=6)
    thread_id = parse_sse(b"".join(first))[0]["thread"]["id"]
    assert thread_id in RUNNERS  # still answering

    response = await resume(alice, thread_id)
    resumed = parse_sse(b"".join([chunk async for chunk in response.streaming_content]))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert resumed[0]["type"] == "thread.created"  # replayed from the first event
    assert text_deltas(resumed) == assistant_text(resumed) == await stored_answer(thread_id)


async def test_the_users_message_is_stored_before_the_response_starts(alice, alice_chat):
    chunks = await post_over_asgi(alice, create_body("keep me"), disconnect_after_chunks=1)
    thread_id = parse_sse(b"".join(chunks))[0]["thread"]["id"]

    assert await ThreadItem.objects.filter(thread_id=thread_id, text="keep me").aexists()
    await wait_until(lambda: finished_turn(thread_id))


async def test_stop_keeps_the_partial_answer_marked_stopped_and_cancels_the_model(
    alice, alice_chat, settings
):
    settings.CHAT_DEMO_WORD_DELAY = 0.03
    # Ten events in, a few words have streamed.
    chunks = await post_over_asgi(alice, create_body("go on"), disconnect_after_chunks=10)
    thread_id = parse_sse(b"".join(chunks))[0]["thread"]["id"]

    response = await stop(alice, thread_id)

    assert (response.status_code, response.json()) == (200, {"stopped": True})
    turn = await Turn.objects.aget(thread_id=thread_id)
    assert turn.state == Turn.State.STOPPED
    partial = await stored_answer(thread_id)
    assert partial and not partial.endswith("restart the site.")
    await asyncio.sleep(0.2)  # words would keep coming every 30 ms if the model still ran
    assert await stored_answer(thread_id) == partial
    hidden = await ThreadItem.objects.aget(thread_id=thread_id, type="sdk_hidden_context")
    assert "cancelled" in hidden.text
    assert thread_id not in RUNNERS


async def test_a_stopped_thread_takes_the_next_message(alice, alice_chat, settings):
    settings.CHAT_DEMO_WORD_DELAY = 0.03
    chunks = await post_over_asgi(alice, create_body("first"), disconnect_after_chunks=4)
    thread_id = parse_sse(b"".join(chunks))[0]["thread"]["id"]
    await stop(alice, thread_id)
    settings.CHAT_DEMO_WORD_DELAY = 0

    answer = await alice_chat.send(thread_id, "second")

    assert answer[-1]["type"] != "error"
    assert "second" in assistant_text(answer)


async def test_resume_and_stop_answer_when_nothing_runs(alice, alice_chat):
    thread_id, _ = await alice_chat.create_thread("done already")
    await wait_until(lambda: finished_turn(thread_id))

    resumed = await resume(alice, thread_id)
    stopped = await stop(alice, thread_id)

    assert resumed.status_code == 204
    assert (stopped.status_code, stopped.json()) == (200, {"stopped": False})


async def test_resume_and_stop_of_another_users_thread_are_404(alice, bob, alice_chat, settings):
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    chunks = await post_over_asgi(alice, create_body("mine"), disconnect_after_chunks=3)
    thread_id = parse_sse(b"".join(chunks))[0]["thread"]["id"]

    resumed = await resume(bob, thread_id)
    stopped = await stop(bob, thread_id)

    assert (resumed.status_code, stopped.status_code) == (404, 404)
    assert thread_id in RUNNERS  # bob's stop did nothing
    await wait_until(lambda: finished_turn(thread_id))
    assert (await Turn.objects.aget(thread_id=thread_id)).state == Turn.State.COMPLETE


async def test_with_continue_after_disconnect_off_hanging_up_stops_the_answer(
    alice, alice_chat, settings
):
    settings.CHAT_CONTINUE_AFTER_DISCONNECT = False
    settings.CHAT_DEMO_WORD_DELAY = 0.03
    chunks = await post_over_asgi(alice, create_body("short"), disconnect_after_chunks=6)
    thread_id = parse_sse(b"".join(chunks))[0]["thread"]["id"]

    turn = await wait_until(lambda: finished_turn(thread_id))

    assert turn.state == Turn.State.STOPPED
    assert not (await stored_answer(thread_id)).endswith("restart the site.")


async def test_a_growing_answer_is_checkpointed(alice, alice_chat, settings):
    settings.CHAT_DEMO_WORD_DELAY = 0.03
    settings.CHAT_CHECKPOINT_SECONDS = 0.05
    chunks = await post_over_asgi(alice, create_body("slowly"), disconnect_after_chunks=3)
    thread_id = parse_sse(b"".join(chunks))[0]["thread"]["id"]

    checkpoint = await wait_until(lambda: stored_answer(thread_id))

    assert thread_id in RUNNERS and not checkpoint.endswith("restart the site.")
    answers = ThreadItem.objects.filter(thread_id=thread_id, type="assistant_message")
    assert [row.partial async for row in answers.all()] == [True]
    await wait_until(lambda: finished_turn(thread_id))
    final = await stored_answer(thread_id)
    assert final.startswith(checkpoint) and final.endswith("restart the site.")
    assert [row.partial async for row in answers.all()] == [False]  # replaced, not added


async def test_a_lost_workers_turn_is_closed_as_interrupted_and_the_thread_goes_on(
    alice, alice_chat
):
    thread_id, _ = await alice_chat.create_thread("before the crash")
    await wait_until(lambda: finished_turn(thread_id))
    now = timezone.now()
    lost = await lost_turn(alice, thread_id)
    alive = await Turn.objects.acreate(
        id="turn_alive", user=alice, thread_id=thread_id, kind="threads.add_user_message",
        worker="here:1", started_at=now, lease_expires_at=now + timedelta(seconds=30),
    )

    closed = await recovery.close_lost_turns()

    assert closed == 1
    await lost.arefresh_from_db()
    await alive.arefresh_from_db()
    assert (lost.state, alive.state) == (Turn.State.INTERRUPTED, Turn.State.RUNNING)
    note = await ThreadItem.objects.aget(thread_id=thread_id, type="sdk_hidden_context")
    assert "interrupted" in note.text
    assert await recovery.close_lost_turns() == 0  # closed once
    answer = await alice_chat.send(thread_id, "after the crash")
    assert answer[-1]["type"] != "error"


async def test_the_next_message_closes_a_turn_left_running_and_the_model_reads_the_note(
    alice, alice_chat, monkeypatch
):
    thread_id, _ = await alice_chat.create_thread("before the crash")
    await wait_until(lambda: finished_turn(thread_id))
    await lost_turn(alice, thread_id)
    given = []
    to_agent_input = SiteItemConverter.to_agent_input

    async def recorded(self, items):
        given.append(list(items))
        return await to_agent_input(self, items)

    monkeypatch.setattr(SiteItemConverter, "to_agent_input", recorded)

    answer = await alice_chat.send(thread_id, "after the crash")

    assert answer[-1]["type"] != "error"
    history = given[0]
    kinds = [item.type for item in history]
    assert kinds[-2:] == ["sdk_hidden_context", "user_message"]
    assert "interrupted" in history[-2].content


async def test_turns_are_recorded_with_their_usage(alice, alice_chat):
    thread_id, _ = await alice_chat.create_thread("count me")

    turn = await wait_until(lambda: finished_turn(thread_id))

    thread = await Thread.objects.aget(pk=thread_id)
    assert turn.kind == "threads.create" and turn.state == Turn.State.COMPLETE
    assert turn.output_tokens == thread.output_tokens > 0


async def still_answering(user, text: str) -> tuple[str, str]:
    """Start a slow answer and hang up mid-way: (its thread id, its turn id)."""
    chunks = await post_over_asgi(user, create_body(text), disconnect_after_chunks=5)
    thread_id = parse_sse(b"".join(chunks))[0]["thread"]["id"]
    assert thread_id in RUNNERS  # still answering
    return thread_id, RUNNERS[thread_id].turn_id


async def assert_stopped_then_deleted(thread_id: str, turn_id: str, owner, caplog) -> None:
    """The answer was stopped before its thread went (no error on the way), and its turn
    keeps what it used (quota, accounts) without naming the thread."""
    assert thread_id not in RUNNERS
    assert not await Thread.objects.filter(pk=thread_id).aexists()
    turn = await Turn.objects.aget(pk=turn_id)
    assert (turn.state, turn.thread_id, turn.user_id) == (Turn.State.STOPPED, None, owner.pk)
    assert turn.answered and turn.model == "offline-demo" and turn.duration_ms is not None
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_thread_deleted_mid_answer_stops_the_answer_and_keeps_its_turn(
    alice, alice_chat, settings, caplog
):
    """The user deletes the thread in another tab while it answers: the model is not left
    running with nowhere to store its words."""
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    thread_id, turn_id = await still_answering(alice, "delete me")

    status, _ = await alice_chat.call("threads.delete", thread_id=thread_id)

    assert status == 200
    await assert_stopped_then_deleted(thread_id, turn_id, alice, caplog)


async def test_deleting_all_my_data_mid_answer_stops_the_answer_first(
    alice, alice_chat, settings, caplog
):
    """"My data" deletes every conversation of the user's, one of them still answering."""
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    thread_id, turn_id = await still_answering(alice, "delete all")
    client = AsyncClient()
    await client.aforce_login(alice)

    response = await client.post("/my-data/delete/", {"confirm": "delete"})

    assert response.status_code == 302
    await assert_stopped_then_deleted(thread_id, turn_id, alice, caplog)


@pytest.mark.parametrize("how", ["its delete page", "the delete action"])
async def test_a_thread_deleted_in_admin_mid_answer_stops_the_answer_first(
    alice, alice_chat, admin_user, settings, caplog, how
):
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    thread_id, turn_id = await still_answering(alice, "admin deletes")
    client = AsyncClient()
    await client.aforce_login(admin_user)

    if how == "its delete page":
        confirm = await client.get(f"/admin/chat/thread/{thread_id}/delete/")
        assert confirm.status_code == 200 and thread_id in RUNNERS  # asking stops nothing
        response = await client.post(f"/admin/chat/thread/{thread_id}/delete/", {"post": "yes"})
    else:
        response = await client.post(
            "/admin/chat/thread/",
            {"action": "delete_selected", "_selected_action": [thread_id], "post": "yes"},
        )

    assert response.status_code == 302
    await assert_stopped_then_deleted(thread_id, turn_id, alice, caplog)


async def test_a_lost_turn_whose_thread_was_deleted_is_closed_without_a_note(alice, alice_chat):
    thread_id, _ = await alice_chat.create_thread("going away")
    await wait_until(lambda: finished_turn(thread_id))
    await lost_turn(alice, thread_id, "turn_orphan")
    status, _ = await alice_chat.call("threads.delete", thread_id=thread_id)
    assert status == 200

    assert await recovery.close_lost_turns() == 1

    orphan = await Turn.objects.aget(pk="turn_orphan")
    assert (orphan.state, orphan.thread_id) == (Turn.State.INTERRUPTED, None)
    assert not await ThreadItem.objects.filter(type="sdk_hidden_context").aexists()
