"""Per-user message limits: a rate in Django's cache and a daily token quota.

With the default local-memory cache the rate holds within one process; with Redis
(`REDIS_URL`) it holds across every worker. Concurrent answers and one turn per thread
are leases (chat/chatkit/leases.py).
"""

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from chat.conf import app_settings
from chat.errors import LimitExceeded
from chat.models import TokenUsage
from chatsite import db


def clock() -> float:
    """Seconds since the epoch, for the rate windows and the quota's day: one place to
    read the wall clock, so a test can hold it still across a window's edge."""
    return time.time()


async def check_message_rate(user_id: Any) -> None:
    """Count one new message against CHAT_RATE_LIMIT (a fixed window per user)."""
    rate = app_settings.RATE_LIMIT
    if rate is None:
        return
    now = clock()
    window = int(now // rate.seconds)
    key = f"chat:rate:{user_id}:{rate.seconds}:{window}"
    used = await db.run(count_one, key, rate.seconds + 1)
    if used > rate.count:
        retry_after = math.ceil((window + 1) * rate.seconds - now)
        raise LimitExceeded(
            f"Too many messages: at most {rate.count} per {rate.seconds} seconds.", retry_after
        )


def count_one(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout=timeout)
    return cache.incr(key)


def tokens_used_since(user_id: Any, since: datetime) -> int:
    used = TokenUsage.objects.filter(user_id=user_id, created_at__gte=since).aggregate(
        total=Sum("input_tokens") + Sum("output_tokens")
    )
    return used["total"] or 0


async def check_token_quota(user_id: Any) -> None:
    """Refuse new messages once today's tokens reach CHAT_DAILY_TOKEN_QUOTA (0: no quota)."""
    quota = app_settings.DAILY_TOKEN_QUOTA
    if not quota:
        return
    now = timezone.localtime(datetime.fromtimestamp(clock(), UTC))
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if await db.run(tokens_used_since, user_id, today) >= quota:
        tomorrow = today + timedelta(days=1)
        raise LimitExceeded(
            "You have used today's token allowance. Please come back tomorrow.",
            (tomorrow - now).total_seconds(),
        )
