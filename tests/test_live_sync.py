"""`/ws/chat/`: every tab of a user hears what happens to their threads and turns, and a
running turn can be followed over the websocket."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from chatsite.asgi import application
from tests.chatkit_client import assistant_text, user_input

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


async def session_cookie(user) -> bytes:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(user=None, *, token: str | None = None, origin=ORIGIN):
    headers = [origin]
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    socket = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    if token is not None:
        await socket.send_json_to({"type": "auth", "token": token})
    return socket


async def receive_until(socket, wanted: str, timeout: float = 5.0) -> list[dict]:
    """Messages up to and including the first of type `wanted`."""
    seen = []
    while not seen or seen[-1]["type"] != wanted:
        seen.append(await socket.receive_json_from(timeout=timeout))
    return seen


async def test_a_page_connects_with_its_session_and_hears_its_threads_and_turns(
    alice, alice_chat
):
    socket = await connect(alice)
    assert (await socket.receive_json_from())["type"] == "ready"

    thread_id, _ = await alice_chat.create_thread("hello")
    notices = await receive_until(socket, "turn.finished")

    kinds = [(notice["type"], notice["thread_id"]) for notice in notices]
    assert ("thread.created", thread_id) in kinds and ("turn.started", thread_id) in kinds
    assert notices[-1]["state"] == "complete"
    await socket.disconnect()


async def test_rename_and_delete_reach_the_other_tabs_but_never_another_user(
    alice, bob, alice_chat
):
    thread_id, _ = await alice_chat.create_thread("to rename")
    alices_tab = await connect(alice)
    bobs_tab = await connect(bob)
    await alices_tab.receive_json_from()
    await bobs_tab.receive_json_from()

    await alice_chat.call("threads.update", thread_id=thread_id, title="Renamed")
    renamed = await receive_until(alices_tab, "thread.updated")
    await alice_chat.call("threads.delete", thread_id=thread_id)
    deleted = await receive_until(alices_tab, "thread.deleted")

    assert renamed[-1] == {"type": "thread.updated", "thread_id": thread_id, "title": "Renamed"}
    assert deleted[-1] == {"type": "thread.deleted", "thread_id": thread_id}
    assert await bobs_tab.receive_nothing(timeout=0.3)
    await alices_tab.disconnect()
    await bobs_tab.disconnect()


async def test_a_client_without_a_session_authenticates_with_a_token(alice):
    socket = await connect(token=str(AccessToken.for_user(alice)))

    assert await socket.receive_json_from() == {"type": "ready", "user_id": alice.pk}
    await socket.disconnect()


async def test_a_bad_token_or_no_authentication_closes_the_socket():
    socket = await connect(token="not-a-token")

    assert (await socket.receive_json_from())["type"] == "error"
    assert (await socket.receive_output())["code"] == 4401

    silent = await connect()
    await silent.send_json_to({"type": "turn.follow", "thread_id": "thr_x"})
    assert (await silent.receive_output())["code"] == 4401


async def test_a_foreign_origin_is_refused(alice):
    socket = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", b"https://evil.example")]
    )

    connected, _ = await socket.connect()

    assert not connected


async def test_a_running_turn_is_followed_from_its_first_event(alice, alice_chat, settings):
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    socket = await connect(alice)
    await socket.receive_json_from()
    response = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("follow me")}}
    )
    started = await receive_until(socket, "turn.started")
    thread_id = started[-1]["thread_id"]

    await socket.send_json_to({"type": "turn.follow", "thread_id": thread_id})
    messages = await receive_until(socket, "turn.end")
    events = [m["event"] for m in messages if m["type"] == "turn.event"]

    assert events[0]["type"] == "thread.created"
    assert "follow me" in assistant_text(events)
    assert response.status_code == 200
    await socket.disconnect()


async def test_following_another_users_thread_is_not_found(alice, bob, alice_chat):
    thread_id, _ = await alice_chat.create_thread("private")
    socket = await connect(bob)
    await socket.receive_json_from()

    await socket.send_json_to({"type": "turn.follow", "thread_id": thread_id})

    reply = await receive_until(socket, "error")
    assert reply[-1]["detail"] == "Not found."
    await socket.disconnect()
