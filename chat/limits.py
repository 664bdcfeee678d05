"""Per-user message limits: a rate, concurrent answers and a daily token quota.

Each limit is a CHAT_* setting by default, overridable per user and per group in the admin
(`QuotaOverride`; `limits_for`). Counting is atomic under concurrency:

- the rate is a fixed window counted with one atomic increment: Redis `INCR` (with its
  expiry set in the same Lua script) when `REDIS_URL` is set, across every worker; else
  this process's memory under a lock;
- concurrent answers are leases (chat/chatkit/leases.py), taken atomically and freed by
  the turn's end or by their expiry, so no counter can drift;
- under a daily token quota a user's answers run one at a time and the quota is checked
  once the previous answer's tokens are counted, so the quota is passed by one answer at
  most, however many messages arrive at once.

When Redis is down, new messages get 503 with Retry-After, or go through unlimited by the
rate when CHAT_LIMITS_FAIL_OPEN is on.
"""

import asyncio
import logging
import math
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext

from chat.conf import app_settings
from chat.errors import LimitExceeded, Unavailable
from chat.models import QuotaOverride, Turn
from chat.setting_parsers import Rate
from chatsite import db, redis_client
from chatsite.read_through import read_through

logger = logging.getLogger(__name__)

# INCR, and on the window's first message its expiry, in one step.
COUNT_IN_WINDOW = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return used
"""


def clock() -> float:
    """Seconds since the epoch, for the rate windows and the quota's day: one place to
    read the wall clock, so a test can hold it still across a window's edge."""
    return time.time()


# --- whose limits --------------------------------------------------------------------------


@dataclass(frozen=True)
class UserLimits:
    """The limits that apply to one user: None or 0 means no limit."""

    rate: Rate | None
    max_streams: int
    daily_tokens: int


def parse_rate(text: str) -> Rate | None:
    """An override's rate: 'none' (or '0/min') for no limit."""
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    return Rate.parse(text)


def most_generous(values: list[int]) -> int:
    """Of several groups' limits (0: none), the one that allows most."""
    return 0 if 0 in values else max(values)


def generous_rate(rates: list[Rate | None]) -> Rate | None:
    if any(rate is None for rate in rates):
        return None
    return max(rates, key=lambda rate: rate.count / rate.seconds)


def resolve(overrides: list[QuotaOverride], user_id: Any) -> UserLimits:
    """The defaults, replaced by the groups' most generous overrides, replaced by the
    user's own."""
    own = next((o for o in overrides if o.user_id == user_id), None)
    groups = [o for o in overrides if o.group_id is not None]

    def chosen(field: str) -> list[Any]:
        """The user's own value, else the values the groups set ([]: keep the default)."""
        if own is not None and getattr(own, field) not in (None, ""):
            return [getattr(own, field)]
        return [getattr(o, field) for o in groups if getattr(o, field) not in (None, "")]

    rates = chosen("rate_limit")
    streams = chosen("max_concurrent_streams")
    tokens = chosen("daily_token_quota")
    return UserLimits(
        rate=generous_rate([parse_rate(t) for t in rates]) if rates else app_settings.RATE_LIMIT,
        max_streams=most_generous(streams) if streams else app_settings.MAX_CONCURRENT_STREAMS,
        daily_tokens=most_generous(tokens) if tokens else app_settings.DAILY_TOKEN_QUOTA,
    )


def overrides_for(user_id: Any) -> list[QuotaOverride]:
    return list(
        QuotaOverride.objects.filter(user_id=user_id)
        | QuotaOverride.objects.filter(group__user__id=user_id)
    )


# A user's overrides are kept in the cache (no query on a message's path), under a version
# that any change of an override or of a user's groups replaces (`forget_overrides`). With
# the local-memory cache each worker keeps its own copy: another process's change reaches it
# within OVERRIDES_CACHE_SECONDS; with Redis, at once.
OVERRIDES_VERSION_KEY = "chat:quota-overrides:version"
OVERRIDES_CACHE_SECONDS = 60


def forget_overrides(**_: Any) -> None:
    """Every cached override is stale (a signal receiver: chat/apps.py connects it)."""
    try:
        cache.set(OVERRIDES_VERSION_KEY, time.time_ns(), None)
    except Exception:  # Redis down: the copies expire by themselves
        logger.warning("Could not mark the cached quota overrides stale", exc_info=True)


def stored_overrides(user_id: Any) -> list[QuotaOverride]:
    """`overrides_for`, from the cache when it has them; the database when it has not (or
    the cache is down). Synchronous, for the database pool's threads: Django's async cache
    methods would add a hop of their own."""
    try:
        version = cache.get(OVERRIDES_VERSION_KEY, 0)
    except Exception:
        return overrides_for(user_id)
    return read_through(
        f"chat:quota-overrides:{version}:{user_id}",
        lambda: overrides_for(user_id),
        OVERRIDES_CACHE_SECONDS,
    )


async def limits_for(user_id: Any) -> UserLimits:
    """The limits of `user_id`: overrides from the admin, else the settings."""
    return resolve(await db.run(stored_overrides, user_id), user_id)


def has_daily_quota(user_id: Any) -> bool:
    """Whether a daily token quota applies to the user: the page shows what is left only
    then (chat/templatetags/chat_widget.py), and asks for nothing otherwise."""
    return bool(resolve(stored_overrides(user_id), user_id).daily_tokens)


# --- the rate -------------------------------------------------------------------------------


# Django's local-memory cache increments under its own lock, but `add` then `incr` is two
# steps (a window's key can expire between them): one lock around both.
_local_lock = threading.Lock()


def count_locally(key: str, ttl: float) -> int:
    with _local_lock:
        cache.add(key, 0, timeout=ttl)
        return cache.incr(key)


_redis: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()


def redis_script():
    """The counting script on a client of this event loop (a client belongs to its loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _redis:
        _redis[loop] = redis_client.loop_client().register_script(COUNT_IN_WINDOW)
    return _redis[loop]


def key_prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}chat:rate:"


async def count_one(key: str, ttl: float) -> int:
    """Add one to the window's counter and return its new value, atomically."""
    if not getattr(settings, "REDIS_URL", ""):
        return count_locally(f"chat:rate:{key}", math.ceil(ttl))
    from redis.exceptions import RedisError

    try:
        return int(await redis_script()(keys=[key_prefix() + key], args=[int(ttl * 1000)]))
    except (RedisError, OSError) as error:
        if app_settings.LIMITS_FAIL_OPEN:
            logger.warning("Rate limit not counted, Redis unavailable: %s", error)
            return 0
        logger.error("Redis unavailable for the rate limit: %s", error)
        raise Unavailable() from error


def period_name(seconds: int) -> str:
    """A rate's period as a reader says it, in their language: "1 hour", "10 minutes"."""
    if seconds % 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    now = datetime.fromtimestamp(0, UTC)
    return timesince(now - timedelta(seconds=seconds), now, depth=1)


async def check_message_rate(user_id: Any, rate: Rate | None) -> None:
    """Count one new message against the user's rate (a fixed window per user); None is
    no limit (`limits_for` has already put the default in where nothing overrides it)."""
    if rate is None:
        return
    now = clock()
    window = int(now // rate.seconds)
    used = await count_one(f"{user_id}:{rate.count}/{rate.seconds}:{window}", rate.seconds + 1)
    if used > rate.count:
        retry_after = math.ceil((window + 1) * rate.seconds - now)
        raise LimitExceeded(
            gettext("Too many messages: at most %(count)d in %(period)s.")
            % {"count": rate.count, "period": period_name(rate.seconds)},
            retry_after,
        )


# --- the daily token quota -------------------------------------------------------------------


def tokens_used_since(user_id: Any, since: datetime) -> int:
    used = Turn.objects.answers().filter(user_id=user_id, finished_at__gte=since).aggregate(
        total=Sum("input_tokens") + Sum("output_tokens")
    )
    return used["total"] or 0


def quota_day() -> tuple[datetime, datetime]:
    """(now, the start of today) in the site's time zone."""
    now = timezone.localtime(datetime.fromtimestamp(clock(), UTC))
    return now, now.replace(hour=0, minute=0, second=0, microsecond=0)


async def check_token_quota(user_id: Any, quota: int | None = None) -> None:
    """Refuse new messages once today's tokens reach the user's quota (0: no quota)."""
    quota = app_settings.DAILY_TOKEN_QUOTA if quota is None else quota
    if not quota:
        return
    now, today = quota_day()
    if await db.run(tokens_used_since, user_id, today) >= quota:
        tomorrow = today + timedelta(days=1)
        raise LimitExceeded(
            gettext("You have used today's token allowance. Please come back tomorrow."),
            (tomorrow - now).total_seconds(),
        )


async def allowance(user_id: Any) -> dict[str, Any]:
    """What the user may still do: for the client to show (GET /chatkit/limits/)."""
    limits = await limits_for(user_id)
    answer: dict[str, Any] = {
        "rate": None,
        "max_concurrent_streams": limits.max_streams or None,
        "daily_tokens": None,
    }
    if limits.rate is not None:
        answer["rate"] = {"messages": limits.rate.count, "per_seconds": limits.rate.seconds}
    if limits.daily_tokens:
        now, today = quota_day()
        used = await db.run(tokens_used_since, user_id, today)
        answer["daily_tokens"] = {
            "quota": limits.daily_tokens,
            "used": used,
            "remaining": max(0, limits.daily_tokens - used),
            "resets_at": (today + timedelta(days=1)).isoformat(),
        }
    return answer
