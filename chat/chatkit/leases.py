"""Leases: who holds a thread's turn, and which of a user's answer slots are taken.

A lease has a short time to live and is kept alive by the runner's heartbeat, so a worker
that dies (kill -9, a lost host) frees what it held within seconds instead of leaving a
counter that never comes back down. Acquiring is atomic: with Redis (`REDIS_URL`) through
`SET NX` and a Lua script, across every worker; without it, in this process's memory,
where the event loop runs each operation without interruption.
"""

import asyncio
import logging
import time
import weakref
from typing import Any, Protocol

from django.conf import settings
from redis.exceptions import RedisError

from chatsite import redis_client

logger = logging.getLogger(__name__)

# Takes a slot in a sorted set of holders scored by expiry: drop the expired, renew a
# holder that is already in, refuse when full.
TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""
# Extends or deletes a key only while it still names the holder.
RENEW_IF_HOLDER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_IF_HOLDER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leases(Protocol):
    async def lock_thread(self, thread_id: str, holder: str, ttl: float) -> bool: ...
    async def take_slot(self, user_id: Any, holder: str, limit: int, ttl: float) -> bool: ...
    async def renew(self, thread_id: str, user_id: Any, holder: str, ttl: float) -> None: ...
    async def release(self, thread_id: str, user_id: Any, holder: str) -> None: ...
    async def thread_holder(self, thread_id: str) -> str | None: ...


def prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}chat:lease:"


class RedisLeases:
    def __init__(self) -> None:
        self.redis = redis_client.loop_client()
        self.take_slot_script = self.redis.register_script(TAKE_SLOT)
        self.renew_script = self.redis.register_script(RENEW_IF_HOLDER)
        self.release_script = self.redis.register_script(RELEASE_IF_HOLDER)

    @staticmethod
    def thread_key(thread_id: str) -> str:
        return f"{prefix()}turn:{thread_id}"

    @staticmethod
    def slots_key(user_id: Any) -> str:
        return f"{prefix()}streams:{user_id}"

    async def lock_thread(self, thread_id: str, holder: str, ttl: float) -> bool:
        key = self.thread_key(thread_id)
        return bool(await self.redis.set(key, holder, nx=True, px=int(ttl * 1000)))

    async def take_slot(self, user_id: Any, holder: str, limit: int, ttl: float) -> bool:
        if not limit:
            return True
        now = time.time()
        taken = await self.take_slot_script(
            keys=[self.slots_key(user_id)],
            args=[int(now * 1000), int((now + ttl) * 1000), holder, limit, int(ttl * 1000)],
        )
        return bool(taken)

    async def renew(self, thread_id: str, user_id: Any, holder: str, ttl: float) -> None:
        try:
            await self.renew_leases(thread_id, user_id, holder, ttl)
        except (RedisError, OSError) as error:  # the next heartbeat tries again
            logger.warning("Could not renew the leases of %s: %s", holder, error)

    async def renew_leases(self, thread_id: str, user_id: Any, holder: str, ttl: float) -> None:
        expires = int((time.time() + ttl) * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            # A script call is a coroutine even on a pipeline: awaiting it queues the command
            # (without the await the thread's lease was never renewed and ran out mid-answer).
            await self.renew_script(
                keys=[self.thread_key(thread_id)], args=[holder, int(ttl * 1000)], client=pipe
            )
            pipe.zadd(self.slots_key(user_id), {holder: expires}, xx=True)
            pipe.pexpire(self.slots_key(user_id), int(ttl * 1000))
            await pipe.execute()

    async def release(self, thread_id: str, user_id: Any, holder: str) -> None:
        """Free both leases; when Redis is unreachable they run out by themselves."""
        try:
            await self.release_script(keys=[self.thread_key(thread_id)], args=[holder])
            await self.redis.zrem(self.slots_key(user_id), holder)
        except (RedisError, OSError) as error:
            logger.warning("Could not release the leases of %s: %s", holder, error)

    async def thread_holder(self, thread_id: str) -> str | None:
        return await self.redis.get(self.thread_key(thread_id))


class LocalLeases:
    """The same leases in this process's memory, for one worker without Redis."""

    def __init__(self) -> None:
        self.threads: dict[str, tuple[str, float]] = {}
        self.slots: dict[Any, dict[str, float]] = {}

    def live_thread_holder(self, thread_id: str) -> str | None:
        holder, expires = self.threads.get(thread_id, (None, 0.0))
        return holder if expires > time.monotonic() else None

    def live_slots(self, user_id: Any) -> dict[str, float]:
        now = time.monotonic()
        slots = {h: e for h, e in self.slots.get(user_id, {}).items() if e > now}
        self.slots[user_id] = slots
        return slots

    async def lock_thread(self, thread_id: str, holder: str, ttl: float) -> bool:
        if self.live_thread_holder(thread_id) not in (None, holder):
            return False
        self.threads[thread_id] = (holder, time.monotonic() + ttl)
        return True

    async def take_slot(self, user_id: Any, holder: str, limit: int, ttl: float) -> bool:
        if not limit:
            return True
        slots = self.live_slots(user_id)
        if holder not in slots and len(slots) >= limit:
            return False
        slots[holder] = time.monotonic() + ttl
        return True

    async def renew(self, thread_id: str, user_id: Any, holder: str, ttl: float) -> None:
        expires = time.monotonic() + ttl
        if self.live_thread_holder(thread_id) == holder:
            self.threads[thread_id] = (holder, expires)
        slots = self.live_slots(user_id)
        if holder in slots:
            slots[holder] = expires

    async def release(self, thread_id: str, user_id: Any, holder: str) -> None:
        if self.threads.get(thread_id, (None,))[0] == holder:
            del self.threads[thread_id]
        self.live_slots(user_id).pop(holder, None)

    async def thread_holder(self, thread_id: str) -> str | None:
        return self.live_thread_holder(thread_id)


_local = LocalLeases()
# A Redis client belongs to the event loop it was made on (tests run one loop per test).
_redis: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisLeases]" = (
    weakref.WeakKeyDictionary()
)


def leases() -> Leases:
    """Redis leases when `REDIS_URL` is set, else this process's."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return _local
    loop = asyncio.get_running_loop()
    if loop not in _redis:
        _redis[loop] = RedisLeases()
    return _redis[loop]
