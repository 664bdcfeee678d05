"""Limits per user and per group (QuotaOverride in the admin) over the CHAT_* defaults,
and what a client is told it has left (GET /chatkit/limits/)."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.test import AsyncClient, Client

from chat.models import QuotaOverride
from tests.chatkit_client import bearer, parse_sse, user_input
from tests.factories import answer

pytestmark = pytest.mark.django_db(transaction=True)

FROZEN = datetime(2025, 5, 6, 18, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch, settings):
    settings.TIME_ZONE = "UTC"
    monkeypatch.setattr("chat.limits.clock", FROZEN.timestamp)


def create_body(text: str = "hi") -> dict:
    return {"type": "threads.create", "params": {"input": user_input(text)}}


async def send(chat) -> int:
    response = await chat.post(create_body())
    if response.streaming:
        parse_sse(b"".join([chunk async for chunk in response.streaming_content]))
    return response.status_code


async def test_a_users_own_rate_replaces_the_default(alice_chat, bob_chat, alice, settings):
    settings.CHAT_RATE_LIMIT = "20/min"
    await QuotaOverride.objects.acreate(user=alice, rate_limit="1/min")

    assert [await send(alice_chat) for _ in range(2)] == [200, 429]
    assert [await send(bob_chat) for _ in range(2)] == [200, 200]


async def test_a_groups_quota_applies_to_its_members(alice_chat, bob_chat, alice, settings):
    settings.CHAT_DAILY_TOKEN_QUOTA = 0
    group = await Group.objects.acreate(name="trial")
    await alice.groups.aadd(group)
    await QuotaOverride.objects.acreate(group=group, daily_token_quota=10)
    await sync_to_async(answer)(alice, tokens=(6, 6), finished_at=FROZEN - timedelta(hours=1))

    assert await send(alice_chat) == 429
    assert await send(bob_chat) == 200


async def test_the_most_generous_group_wins_and_the_users_own_beats_both(
    alice_chat, alice, settings
):
    settings.CHAT_RATE_LIMIT = "20/min"
    strict = await Group.objects.acreate(name="strict")
    generous = await Group.objects.acreate(name="generous")
    await alice.groups.aadd(strict, generous)
    await QuotaOverride.objects.acreate(group=strict, rate_limit="1/min")
    await QuotaOverride.objects.acreate(group=generous, rate_limit="2/min")
    assert [await send(alice_chat) for _ in range(3)] == [200, 200, 429]

    await QuotaOverride.objects.acreate(user=alice, rate_limit="none")
    assert [await send(alice_chat) for _ in range(3)] == [200, 200, 200]


async def test_the_client_sees_what_is_left(alice, settings):
    settings.CHAT_RATE_LIMIT = "20/min"
    settings.CHAT_MAX_CONCURRENT_STREAMS = 3
    await QuotaOverride.objects.acreate(user=alice, daily_token_quota=100)
    await sync_to_async(answer)(alice, tokens=(30, 10), finished_at=FROZEN - timedelta(hours=1))

    response = await AsyncClient().get("/chatkit/limits/", headers=bearer(alice))

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "rate": {"messages": 20, "per_seconds": 60},
        "max_concurrent_streams": 3,
        "daily_tokens": {
            "quota": 100,
            "used": 40,
            "remaining": 60,
            "resets_at": "2025-05-07T00:00:00+00:00",
        },
    }


async def test_the_limits_need_a_bearer_token():
    response = await AsyncClient().get("/chatkit/limits/")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_the_admin_edits_overrides_and_refuses_a_bad_one(admin_user, alice):
    client = Client()
    client.force_login(admin_user)
    url = "/admin/chat/quotaoverride/add/"
    bad = client.post(url, {"user": alice.pk, "rate_limit": "lots"})
    both = client.post(url, {"rate_limit": "5/min"})
    good = client.post(url, {"user": alice.pk, "rate_limit": "5/min", "daily_token_quota": 1000})

    assert bad.status_code == 200 and b"20/min" in bad.content
    assert both.status_code == 200 and b"either a user or a group" in both.content
    assert good.status_code == 302
    override = QuotaOverride.objects.get(user=alice)
    assert (override.rate_limit, override.daily_token_quota) == ("5/min", 1000)


async def test_a_changed_override_or_group_applies_to_the_next_message(
    alice_chat, alice, settings
):
    """Overrides are cached between messages: a change in the admin still counts at once."""
    settings.CHAT_RATE_LIMIT = "1/min"
    assert await send(alice_chat) == 200  # the (absent) overrides are now cached

    override = await QuotaOverride.objects.acreate(user=alice, rate_limit="none")
    assert [await send(alice_chat) for _ in range(2)] == [200, 200]

    await override.adelete()
    group = await Group.objects.acreate(name="unlimited")
    await QuotaOverride.objects.acreate(group=group, rate_limit="none")
    assert await send(alice_chat) == 429
    await alice.groups.aadd(group)
    assert await send(alice_chat) == 200
