"""Rate limits, concurrent-stream limits, quotas and turn order."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async

from chat.models import Thread, ThreadItem
from tests.chatkit_client import bearer, parse_sse, user_input
from tests.factories import answer
from tests.instances import run_second_instance

pytestmark = pytest.mark.django_db(transaction=True)

# Half a minute into a rate window, and 5 h 59 min 30 s before midnight UTC.
FROZEN = datetime(2025, 5, 6, 18, 0, 30, tzinfo=UTC)


def create_body(text: str = "hi") -> dict:
    return {"type": "threads.create", "params": {"input": user_input(text)}}


async def read(response) -> list[dict]:
    return parse_sse(b"".join([chunk async for chunk in response.streaming_content]))


@pytest.fixture
def frozen_clock(monkeypatch) -> datetime:
    """Hold the limits' clock at FROZEN, so no rate window or day ends mid-test."""
    monkeypatch.setattr("chat.limits.clock", FROZEN.timestamp)
    return FROZEN


async def test_too_many_messages_get_429_with_retry_after(
    alice_chat, bob_chat, settings, frozen_clock
):
    settings.CHAT_RATE_LIMIT = "2/min"
    for _ in range(2):
        assert (await alice_chat.post(create_body())).status_code == 200

    response = await alice_chat.post(create_body("one too many"))

    assert response.status_code == 429
    assert response["Retry-After"] == "30"  # the window ends on the next whole minute
    assert "Too many messages" in response.json()["detail"]
    assert not await ThreadItem.objects.filter(text="one too many").aexists()
    assert (await bob_chat.post(create_body())).status_code == 200  # per user


async def test_reads_are_not_rate_limited(alice_chat, settings, frozen_clock):
    settings.CHAT_RATE_LIMIT = "1/min"
    await read(await alice_chat.post(create_body()))

    statuses = [(await alice_chat.call("threads.list"))[0] for _ in range(5)]

    assert statuses == [200] * 5
    assert (await alice_chat.post(create_body())).status_code == 429  # messages still are


async def test_concurrent_streams_are_limited_per_user(alice_chat, bob_chat, settings):
    settings.CHAT_MAX_CONCURRENT_STREAMS = 1
    # The first answer takes about a second: it still streams when the second one comes.
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    first = await alice_chat.post(create_body("first"))

    second = await alice_chat.post(create_body("second"))
    other_user = await bob_chat.post(create_body("bob's"))
    await read(first)
    await read(other_user)
    third = await alice_chat.post(create_body("third"))
    await read(third)

    assert (second.status_code, third.status_code, other_user.status_code) == (429, 200, 200)
    assert second["Retry-After"] == "5"


async def test_daily_token_quota(alice_chat, alice, settings, frozen_clock):
    settings.TIME_ZONE = "UTC"
    settings.CHAT_DAILY_TOKEN_QUOTA = 100
    await sync_to_async(answer)(
        alice, tokens=(60, 40), finished_at=frozen_clock - timedelta(hours=1)
    )

    response = await alice_chat.post(create_body())

    assert response.status_code == 429
    assert "token allowance" in response.json()["detail"]
    assert response["Retry-After"] == str(5 * 3600 + 59 * 60 + 30)  # until midnight


async def test_a_french_user_is_told_which_limit_in_french(
    alice, alice_chat, settings, frozen_clock
):
    alice_chat.headers = {**alice_chat.headers, "Accept-Language": "fr"}
    settings.CHAT_RATE_LIMIT = "1/hour"
    await read(await alice_chat.post(create_body()))

    too_many = await alice_chat.post(create_body())

    assert too_many.json()["detail"] == "Trop de messages : au plus 1 en 1\xa0heure."
    settings.TIME_ZONE = "UTC"
    settings.CHAT_DAILY_TOKEN_QUOTA = 1
    over_quota = await alice_chat.post(create_body())
    assert over_quota.json()["detail"] == (
        "Vous avez utilisé votre quota de jetons du jour. Revenez demain."
    )


async def test_rate_limit_is_shared_between_two_instances(
    alice, alice_chat, settings, shared_redis, frozen_clock
):
    settings.CHAT_RATE_LIMIT = "3/min"
    for _ in range(2):
        await read(await alice_chat.post(create_body()))

    statuses = await asyncio.to_thread(
        run_second_instance,
        [{"body": create_body(), "headers": bearer(alice)}] * 2,
        clock=frozen_clock.timestamp(),
        CHAT_RATE_LIMIT="3/min",
        **shared_redis,
    )

    assert statuses == [[200, None], [429, "30"]]


async def test_stream_limit_is_shared_between_two_instances(
    alice, alice_chat, settings, shared_redis
):
    settings.CHAT_MAX_CONCURRENT_STREAMS = 1
    # Still answering when the other instance (a few seconds to start) asks; stopped at
    # the end of the test.
    settings.CHAT_DEMO_WORD_DELAY = 0.5
    open_stream = await alice_chat.post(create_body("still streaming"))

    statuses = await asyncio.to_thread(
        run_second_instance,
        [{"body": create_body(), "headers": bearer(alice)}],
        CHAT_MAX_CONCURRENT_STREAMS="1",
        **shared_redis,
    )

    assert open_stream.status_code == 200 and statuses[0][0] == 429


async def test_two_messages_at_once_are_both_stored_in_order_and_answered(alice_chat, settings):
    thread_id, _ = await alice_chat.create_thread("start")
    settings.CHAT_DEMO_WORD_DELAY = 0.01

    async def send(text: str) -> list[dict]:
        body = {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": user_input(text)},
        }
        return await read(await alice_chat.post(body))

    first, second = await asyncio.gather(send("first at once"), send("second at once"))

    rows = [(row.type, row.text) async for row in ThreadItem.objects.filter(thread_id=thread_id)]
    kinds = [kind for kind, _ in rows]
    assert kinds == ["user_message", "assistant_message"] * 3
    sent = [text for kind, text in rows if kind == "user_message"][1:]
    assert sorted(sent) == ["first at once", "second at once"]
    # Each answer follows its own question: the turns did not interleave.
    for index in (2, 4):
        assert rows[index][1] in rows[index + 1][1]
    assert all(events[-1]["type"] != "error" for events in (first, second))
    assert await Thread.objects.filter(pk=thread_id).acount() == 1
