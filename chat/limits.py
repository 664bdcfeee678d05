"""Per-user message limits: a rate in Django's cache and a daily token quota.

With the default local-memory cache the rate holds within one process; with Redis
(`REDIS_URL`) it holds across every worker. Concurrent answers and one turn per thread
are leases (chat/chatkit/leases.py).
"""

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from chat.conf import app_settings
from chat.errors import LimitExceeded
from chat.models import TokenUsage
from chatsite import db

UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
         "hour": 3600, "d": 86400, "day": 86400}
RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


def clock() -> float:
    """Seconds since the epoch, for the rate windows and the quota's day: one place to
    read the wall clock, so a test can hold it still across a window's edge."""
    return time.time()


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Rate | None":
        """"20/min", "100/hour", "5/10s"; empty or "0/..." means no limit.

        Called by chat.conf once per value of CHAT_RATE_LIMIT, not per message."""
        if not text.strip():
            return None
        match = RATE.match(text.lower())
        if not match or match.group(3) not in UNITS:
            raise ValueError(f"{text!r} is not like '20/min'")
        count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
        if not multiple:
            raise ValueError(f"{text!r} has a period of 0")
        return cls(count, multiple * UNITS[unit]) if count else None


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
