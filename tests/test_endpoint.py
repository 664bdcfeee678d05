"""Every ChatKit request type through /chatkit/, as a client sees it."""

import base64
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from chat.models import Feedback, Thread, ThreadItem
from tests import agent_factories
from tests.chatkit_client import assistant_text, user_input

pytestmark = pytest.mark.django_db(transaction=True)


async def items_in_db(thread_id: str) -> list[tuple[str, str]]:
    return [
        (row.type, row.text)
        async for row in ThreadItem.objects.filter(thread_id=thread_id).order_by("created_at", "id")
    ]


async def test_create_thread_streams_an_answer_and_stores_it(alice_chat, alice):
    thread_id, events = await alice_chat.create_thread("What is Django?")

    types = [event["type"] for event in events]
    assert types[0] == "thread.created"
    assert "thread.item.updated" in types  # the answer arrived in pieces
    answer = assistant_text(events)
    assert "offline demo assistant" in answer and "What is Django?" in answer
    thread = await Thread.objects.aget(pk=thread_id)
    assert thread.owner_id == alice.pk
    assert thread.title == "What is Django?"
    stored = await items_in_db(thread_id)
    assert stored == [("user_message", "What is Django?"), ("assistant_message", answer)]


async def test_stream_headers_suit_proxies(alice_chat):
    response = await alice_chat.post(
        {"type": "threads.create", "params": {"input": user_input("hi")}}
    )
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    assert not response.has_header("Content-Encoding")
    [chunk async for chunk in response.streaming_content]


async def test_second_message_gets_a_new_answer_with_history(alice_chat):
    thread_id, first = await alice_chat.create_thread("first question")
    second = await alice_chat.send(thread_id, "second question")

    assert "message 2 of this conversation" in assistant_text(second)
    stored = await items_in_db(thread_id)
    assert [kind for kind, _ in stored] == [
        "user_message",
        "assistant_message",
        "user_message",
        "assistant_message",
    ]
    assert stored[1][1] == assistant_text(first)


async def test_get_by_id_returns_the_thread_with_its_items(alice_chat):
    thread_id, events = await alice_chat.create_thread("Hello")

    status, thread = await alice_chat.call("threads.get_by_id", thread_id=thread_id)

    assert status == 200
    assert thread["id"] == thread_id and thread["title"] == "Hello"
    assert [item["type"] for item in thread["items"]["data"]] == [
        "user_message",
        "assistant_message",
    ]


async def test_threads_list_pages_newest_first(alice_chat):
    created = [(await alice_chat.create_thread(f"topic {n}"))[0] for n in range(5)]

    seen, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        status, page = await alice_chat.call("threads.list", **params)
        assert status == 200
        seen += [thread["id"] for thread in page["data"]]
        if not page["has_more"]:
            break
        after = page["after"]

    assert seen == list(reversed(created))


async def test_items_list_pages_in_both_orders(alice_chat):
    thread_id, _ = await alice_chat.create_thread("one")
    await alice_chat.send(thread_id, "two")
    expected = [item_id async for item_id in ThreadItem.objects.filter(
        thread_id=thread_id
    ).order_by("created_at", "id").values_list("item_id", flat=True)]

    for order, want in (("asc", expected), ("desc", expected[::-1])):
        seen, after = [], None
        while True:
            params = {"thread_id": thread_id, "limit": 3, "order": order}
            status, page = await alice_chat.call("items.list", **params, after=after)
            assert status == 200
            seen += [item["id"] for item in page["data"]]
            if not page["has_more"]:
                break
            after = page["after"]
        assert seen == want


async def test_rename_and_delete(alice_chat):
    thread_id, _ = await alice_chat.create_thread("old name")

    status, thread = await alice_chat.call("threads.update", thread_id=thread_id, title="New")
    assert (status, thread["title"]) == (200, "New")
    assert (await Thread.objects.aget(pk=thread_id)).title == "New"

    status, _ = await alice_chat.call("threads.delete", thread_id=thread_id)
    assert status == 200
    assert not await Thread.objects.filter(pk=thread_id).aexists()
    assert not await ThreadItem.objects.filter(thread_id=thread_id).aexists()
    status, _ = await alice_chat.call("threads.get_by_id", thread_id=thread_id)
    assert status == 404


async def test_retry_replaces_the_answer(alice_chat):
    thread_id, events = await alice_chat.create_thread("retry me")
    user_item = next(e["item"] for e in events if e["type"] == "thread.item.done")
    first_answer_id = next(
        e["item"]["id"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    )

    retried = await alice_chat.stream(
        "threads.retry_after_item", thread_id=thread_id, item_id=user_item["id"]
    )

    assert "retry me" in assistant_text(retried)
    stored = [row async for row in ThreadItem.objects.filter(thread_id=thread_id)]
    assert [row.type for row in stored] == ["user_message", "assistant_message"]
    assert stored[1].item_id != first_answer_id


async def test_feedback_is_stored(alice_chat, alice):
    thread_id, events = await alice_chat.create_thread("rate me")
    answer_id = next(
        e["item"]["id"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    )

    status, _ = await alice_chat.call(
        "items.feedback", thread_id=thread_id, item_ids=[answer_id], kind="negative"
    )

    assert status == 200
    feedback = await Feedback.objects.select_related("item").aget()
    assert (feedback.item.item_id, feedback.user_id, feedback.kind) == (
        answer_id,
        alice.pk,
        "negative",
    )


async def test_page_metadata_reaches_the_agent_bounded(alice_chat, settings):
    settings.CHAT_AGENT = "tests.agent_factories.recording_factory"
    agent_factories.seen_contexts.clear()
    page = {"url": "https://example.test/docs", "title": "Docs", "selection": "x" * 9000}
    await alice_chat.stream("threads.create", metadata={"page": page}, input=user_input("hi"))
    await alice_chat.stream(
        "threads.create", metadata={"page": {"url": "javascript:alert(1)"}}, input=user_input("a")
    )
    await alice_chat.stream("threads.create", metadata={"page": "nonsense"}, input=user_input("b"))

    seen = [context.page for context in agent_factories.seen_contexts]
    assert (seen[0].url, seen[0].title, len(seen[0].selection)) == (
        "https://example.test/docs",
        "Docs",
        4000,
    )
    assert seen[1].url == ""
    assert seen[2].url == seen[2].title == ""


# --- isolation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_type, extra",
    [
        ("threads.get_by_id", {}),
        ("threads.update", {"title": "mine now"}),
        ("threads.delete", {}),
        ("items.list", {}),
        ("items.feedback", {"item_ids": ["x"], "kind": "positive"}),
        ("threads.add_user_message", {"input": user_input("let me in")}),
        ("threads.retry_after_item", {"item_id": "x"}),
    ],
)
async def test_another_users_thread_is_not_found(alice_chat, bob_chat, request_type, extra):
    thread_id, _ = await alice_chat.create_thread("alice's secret")
    before = await items_in_db(thread_id)

    params = {"thread_id": thread_id, **extra}
    response = await bob_chat.post({"type": request_type, "params": params})

    assert response.status_code == 404
    assert b"secret" not in response.content
    assert await items_in_db(thread_id) == before
    assert (await Thread.objects.aget(pk=thread_id)).title == "alice's secret"


async def test_threads_list_shows_only_own_threads(alice_chat, bob_chat):
    await alice_chat.create_thread("alice only")
    bob_thread, _ = await bob_chat.create_thread("bob only")

    status, page = await bob_chat.call("threads.list", limit=50)

    assert status == 200
    assert [thread["id"] for thread in page["data"]] == [bob_thread]


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"not json at all", "Invalid ChatKit request"),
        (b"", "Invalid ChatKit request"),
        (json.dumps({"type": "threads.explode", "params": {}}), "threads.explode"),
        (json.dumps({"type": "threads.create", "params": {}}), "input"),
        (json.dumps({"type": "threads.get_by_id", "params": {"thread_id": 7}}), "thread_id"),
        (json.dumps({"type": "threads.list", "params": {"limit": "many"}}), "limit"),
        (json.dumps({"type": "input.transcribe", "params": {"audio_base64": "", "mime_type": "a"}}),
         "CHAT_TRANSCRIPTION_MODEL"),
        (json.dumps([1, 2, 3]), "Invalid ChatKit request"),
        (json.dumps({"type": "threads.list", "params": {"limit": -5}}), "params.limit"),
        (json.dumps({"type": "threads.get_by_id", "params": {"thread_id": "thr_\x00"}}),
         "params.thread_id is not a valid id"),
        (json.dumps({"type": "items.list", "params": {"thread_id": "t", "limit": 10**6}}),
         "params.limit"),
    ],
)
async def test_malformed_requests_get_400_with_a_message(alice_chat, body, fragment):
    response = await alice_chat.post(body)

    assert response.status_code == 400
    assert fragment in response.json()["detail"]
    assert await Thread.objects.acount() == 0


async def test_oversized_body_gets_413_and_writes_nothing(alice_chat, settings):
    settings.CHAT_MAX_REQUEST_BYTES = 2000
    body = {"type": "threads.create", "params": {"input": user_input("x" * 5000)}}

    response = await alice_chat.post(body)

    assert response.status_code == 413
    assert "larger than 2000 bytes" in response.json()["detail"]
    assert await Thread.objects.acount() == 0


async def test_only_post_is_allowed(alice_chat):
    response = await alice_chat.client.get("/chatkit/", headers=alice_chat.headers)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


async def test_retry_must_name_a_user_message(alice_chat):
    thread_id, events = await alice_chat.create_thread("hi")
    answer_id = [e["item"]["id"] for e in events if e["type"] == "thread.item.done"][-1]

    status, body = await alice_chat.call(
        "threads.retry_after_item", thread_id=thread_id, item_id=answer_id
    )

    assert status == 400 and "user message" in body["detail"]


async def test_nul_characters_are_dropped_and_the_message_kept(alice_chat):
    thread_id, events = await alice_chat.create_thread("before\x00after")

    stored = await items_in_db(thread_id)
    assert stored[0] == ("user_message", "beforeafter")
    assert events[-1]["type"] != "error"


# --- authentication at the endpoint ---------------------------------------------------


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def expired(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=5))
    return f"Bearer {token}"


def tampered(user) -> str:
    header, payload, signature = str(AccessToken.for_user(user)).split(".")
    return f"Bearer {header}.{b64url({'token_type': 'access', 'user_id': '999'})}.{signature}"


def alg_none(user) -> str:
    claims = AccessToken.for_user(user).payload
    return f"Bearer {b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."


def refresh_as_access(user) -> str:
    return f"Bearer {RefreshToken.for_user(user)}"


def of_inactive_user(user) -> str:
    user.is_active = False
    user.save(update_fields=["is_active"])
    return f"Bearer {AccessToken.for_user(user)}"


@pytest.mark.parametrize(
    "authorization",
    [
        lambda user: None,
        lambda user: "Basic YWxpY2U6cGFzc3dvcmQ=",
        expired,
        tampered,
        alg_none,
        refresh_as_access,
        of_inactive_user,
    ],
    ids=["missing", "not-bearer", "expired", "tampered", "alg-none", "refresh", "inactive"],
)
async def test_bad_tokens_get_401_json_with_a_challenge(alice, alice_chat, authorization):
    value = await sync_to_async(authorization)(alice)
    headers = {} if value is None else {"Authorization": value}

    response = await alice_chat.post({"type": "threads.list", "params": {}}, headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"]
    assert await Thread.objects.acount() == 0
