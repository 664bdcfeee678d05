"""Limits hold under a burst: 60 messages from one user at once, against both counting
backends (this process's memory, and Redis shared by every worker), and Redis outages
answer 503 JSON (or go through with CHAT_LIMITS_FAIL_OPEN)."""

import asyncio
import os
import signal

import pytest
from django.db.models import Max, Sum

from chat.models import ThreadItem, Turn
from tests.chatkit_client import parse_sse, user_input
from tests.instances import PrivateRedis

pytestmark = pytest.mark.django_db(transaction=True)

BURST = int(__import__("os").environ.get("BURST", "60"))


def create_body(text: str = "hi") -> dict:
    return {"type": "threads.create", "params": {"input": user_input(text)}}


@pytest.fixture(params=["local", "redis"])
def backend(request, settings) -> str:
    """Each test runs with the local-memory counters and with the shared Redis."""
    if request.param == "redis":
        # Counters, leases and the turns' events in Redis, as with several workers.
        request.getfixturevalue("shared_redis")
    return request.param


async def burst(chat, count: int = BURST) -> list:
    """`count` new conversations from one user, all sent at once; each answer read out."""

    async def one(index: int):
        response = await chat.post(create_body(f"message {index}"))
        if response.streaming:
            parse_sse(b"".join([chunk async for chunk in response.streaming_content]))
        return response

    return await asyncio.gather(*(one(index) for index in range(count)))


async def test_the_rate_limit_holds_under_a_burst(alice_chat, settings, backend):
    settings.CHAT_RATE_LIMIT = "20/min"
    settings.CHAT_MAX_CONCURRENT_STREAMS = 0

    responses = await burst(alice_chat)

    statuses = [response.status_code for response in responses]
    # A burst may straddle a minute's edge: then two windows count, never more.
    assert statuses.count(200) in (20, 40) and set(statuses) <= {200, 429}, statuses
    assert all(r["Retry-After"] for r in responses if r.status_code == 429)


async def test_the_stream_limit_holds_under_a_burst(alice_chat, settings, backend):
    settings.CHAT_RATE_LIMIT = ""
    settings.CHAT_MAX_CONCURRENT_STREAMS = 3
    settings.CHAT_DEMO_WORD_DELAY = 0.05  # every answer still streams when the last one asks

    responses = await asyncio.gather(*(alice_chat.post(create_body()) for _ in range(BURST)))
    statuses = [response.status_code for response in responses]
    for response in responses:
        if response.streaming:
            b"".join([chunk async for chunk in response.streaming_content])

    assert statuses.count(200) == 3 and statuses.count(429) == BURST - 3, statuses


async def test_the_daily_quota_is_passed_by_one_answer_at_most(
    alice, alice_chat, settings, backend
):
    settings.CHAT_RATE_LIMIT = ""
    settings.CHAT_MAX_CONCURRENT_STREAMS = 0
    settings.CHAT_DAILY_TOKEN_QUOTA = 50

    responses = await burst(alice_chat)

    usage = await Turn.objects.answers().filter(user=alice).aaggregate(
        total=Sum("input_tokens") + Sum("output_tokens"),
        largest=Max("input_tokens") + Max("output_tokens"),
    )
    assert usage["total"] and usage["total"] < 50 + usage["largest"], usage
    assert {response.status_code for response in responses} == {200, 429}


@pytest.fixture
def private_redis(tmp_path, settings):
    """A Redis of the test's own, the site's cache and leases pointed at it."""
    redis = PrivateRedis(tmp_path).start()
    settings.REDIS_URL = redis.url
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis.url}
    }
    yield redis
    redis.stop()


async def test_with_redis_down_new_messages_get_503_json(alice_chat, settings, private_redis):
    settings.CHAT_RATE_LIMIT = "20/min"
    first = await alice_chat.post(create_body())
    b"".join([chunk async for chunk in first.streaming_content])
    assert first.status_code == 200

    private_redis.stop()
    response = await alice_chat.post(create_body("while Redis is down"))

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"]
    assert "unavailable" in response.json()["detail"]


async def test_with_redis_down_and_fail_open_new_messages_are_answered(
    alice_chat, settings, private_redis
):
    settings.CHAT_RATE_LIMIT = "20/min"
    settings.CHAT_LIMITS_FAIL_OPEN = True
    private_redis.stop()

    response = await alice_chat.post(create_body("while Redis is down"))
    events = parse_sse(b"".join([chunk async for chunk in response.streaming_content]))

    assert response.status_code == 200
    assert events[-1]["type"] != "error"


async def test_an_answer_still_ends_when_redis_freezes_mid_answer(
    alice_chat, settings, private_redis
):
    """Redis stops answering (neither replies nor refuses) while an answer streams: the
    answer is still told and stored in full, once the Redis calls time out."""
    settings.CHAT_DEMO_WORD_DELAY = 0.02
    response = await alice_chat.post(create_body("freeze"))
    chunks = aiter(response.streaming_content)
    first = await anext(chunks)

    os.kill(private_redis.process.pid, signal.SIGSTOP)
    try:
        async with asyncio.timeout(60):
            rest = b"".join([chunk async for chunk in chunks])
    finally:
        os.kill(private_redis.process.pid, signal.SIGCONT)

    events = parse_sse(first + rest)
    assert response.status_code == 200 and events[-1]["type"] != "error", events[-1]
    answer = await ThreadItem.objects.filter(type="assistant_message").alatest("created_at")
    assert answer.text and not answer.partial
