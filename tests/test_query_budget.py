"""The number of queries per request does not grow with the data.

Queries are counted on every thread (tests/queries.py): the views' and turns' database
work runs on the pool of chatsite/db.py.
"""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client
from django.utils import timezone

from accounts.user_cache import user_by_id
from chat.limits import stored_overrides
from chat.models import Feedback, Thread, ThreadItem
from tests.chatkit_client import ChatKitClient, bearer, parse_sse
from tests.queries import queries_on_every_thread

# The requests' database work runs on the pool's threads (chatsite/db.py): it must see
# committed data.
pytestmark = pytest.mark.django_db(transaction=True)

# One turn, for a user who is chatting (their row and quota overrides in the cache, see
# `chatting`): the thread with its newest items (one query: the history, with whether a
# turn was left running; the user's message is added to it in memory, and the Agents
# SDK's second look is answered from it), the turn's record, the user's message, the
# answer, the thread's activity and token totals, the turn's end (its state with what it
# used: the turn's record is the usage record too). The store's own share is 4 of these.
# A user's first request in a while reads their row (one query more), and their quota
# overrides on their first message (one more).
TURN_BUDGET = 6
# A read: one query (the page, its cursor's row compared in the same query).
READ_BUDGET = 1


def make_threads(owner, count: int) -> None:
    now = timezone.now()
    Thread.objects.bulk_create(
        Thread(id=f"thr_{owner.pk}_{n}", owner=owner, title=f"t{n}",
               created_at=now - timedelta(seconds=n), updated_at=now)
        for n in range(count)
    )


def make_items(thread: Thread, count: int) -> None:
    # In the past, as stored messages are: a new message sorts after them.
    now = timezone.now() - timedelta(minutes=1)
    ThreadItem.objects.bulk_create(
        ThreadItem(
            thread=thread,
            item_id=f"msg_{n}",
            type="user_message",
            created_at=now + timedelta(milliseconds=n),
            text=f"message {n}",
            data={
                "id": f"msg_{n}",
                "thread_id": thread.id,
                "created_at": (now + timedelta(milliseconds=n)).isoformat(),
                "type": "user_message",
                "content": [{"type": "input_text", "text": f"message {n}"}],
                "attachments": [],
                "inference_options": {},
            },
        )
        for n in range(count)
    )


async def read_all(chunks) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def chatkit(user, type: str, **params):
    client = Client()
    response = client.post(
        "/chatkit/",
        json.dumps({"type": type, "params": params}),
        content_type="application/json",
        headers=bearer(user),
    )
    if response.streaming:
        return response.status_code, parse_sse(async_to_sync(read_all)(response.streaming_content))
    return response.status_code, response.json()


def chatting(user) -> None:
    """The user has been using the site: their row is in the cache (accounts/user_cache.py)
    and so are their quota overrides (chat/limits.py)."""
    user_by_id(user.pk)
    stored_overrides(user.pk)


def queries_for(user, type: str, **params) -> tuple[int, object]:
    chatting(user)
    with queries_on_every_thread() as captured:
        status, body = chatkit(user, type, **params)
    assert status == 200, body
    return len(captured), body


@pytest.mark.parametrize("few, many", [(5, 50)])
def test_threads_list_queries_do_not_grow_with_threads(alice, bob, few, many):
    make_threads(alice, few)
    make_threads(bob, many)

    few_queries, few_page = queries_for(alice, "threads.list", limit=100)
    many_queries, many_page = queries_for(bob, "threads.list", limit=100)

    assert (len(few_page["data"]), len(many_page["data"])) == (few, many)
    assert 0 < few_queries == many_queries <= READ_BUDGET


def test_threads_list_with_cursor_queries_do_not_grow(alice):
    make_threads(alice, 50)
    _, first = queries_for(alice, "threads.list", limit=5)

    count, page = queries_for(alice, "threads.list", limit=40, after=first["after"])

    assert len(page["data"]) == 40
    assert count <= READ_BUDGET


def test_items_list_queries_do_not_grow_with_items(alice):
    make_threads(alice, 2)
    small, large = Thread.objects.filter(owner=alice).order_by("id")
    make_items(small, 5)
    make_items(large, 50)

    few_queries, few_page = queries_for(alice, "items.list", thread_id=small.id, limit=100)
    many_queries, many_page = queries_for(alice, "items.list", thread_id=large.id, limit=100)

    assert (len(few_page["data"]), len(many_page["data"])) == (5, 50)
    assert 0 < few_queries == many_queries <= READ_BUDGET


def test_items_list_with_cursor_is_one_query(alice):
    make_threads(alice, 1)
    make_items(Thread.objects.get(owner=alice), 30)
    thread_id = Thread.objects.get(owner=alice).id

    count, page = queries_for(
        alice, "items.list", thread_id=thread_id, limit=5, after="msg_20", order="asc"
    )

    assert [item["id"] for item in page["data"]] == [f"msg_{n}" for n in range(21, 26)]
    assert count <= READ_BUDGET


def test_items_list_of_another_users_thread_is_404(alice, bob):
    make_threads(alice, 1)
    thread = Thread.objects.get(owner=alice)
    make_items(thread, 3)

    status, body = chatkit(bob, "items.list", thread_id=thread.id)

    assert status == 404 and "data" not in body


async def test_one_turn_stays_within_budget_whatever_the_thread_length(alice):
    await sync_to_async(make_threads)(alice, 2)
    short, long = [thread async for thread in Thread.objects.filter(owner=alice).order_by("id")]
    await sync_to_async(make_items)(short, 4)
    await sync_to_async(make_items)(long, 200)
    chat = ChatKitClient(alice)
    await sync_to_async(chatting)(alice)

    with queries_on_every_thread() as short_queries:
        short_events = await chat.send(short.id, "hi")
    with queries_on_every_thread() as long_queries:
        long_events = await chat.send(long.id, "hi")

    assert short_events[-1]["type"] != "error" and long_events[-1]["type"] != "error"
    assert len(short_queries) == len(long_queries) <= TURN_BUDGET, short_queries


async def test_a_new_threads_first_turn_stays_within_budget(alice):
    chat = ChatKitClient(alice)
    await sync_to_async(chatting)(alice)

    with queries_on_every_thread() as queries:
        _, events = await chat.create_thread("hello there")

    assert events[-1]["type"] != "error"
    # No thread to read first, but the thread's row and its title are written.
    assert len(queries) <= TURN_BUDGET, queries


def test_threads_delete_queries_do_not_grow_with_items_or_feedback(alice, bob):
    make_threads(alice, 2)
    small, large = Thread.objects.filter(owner=alice).order_by("id")
    make_items(small, 3)
    make_items(large, 3000)
    Feedback.objects.bulk_create(
        Feedback(item=item, user=bob, kind="positive", created_at=timezone.now())
        for item in ThreadItem.objects.filter(thread=large)[:500]
    )

    few_queries, _ = queries_for(alice, "threads.delete", thread_id=small.id)
    many_queries, _ = queries_for(alice, "threads.delete", thread_id=large.id)

    assert not Thread.objects.filter(owner=alice).exists()
    assert not ThreadItem.objects.exists() and not Feedback.objects.exists()
    assert few_queries == many_queries <= 15  # measured at 12
