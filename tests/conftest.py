import asyncio
import os
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connections
from hypothesis import settings as hypothesis_settings

from chatsite import db
from tests.chatkit_client import ChatKitClient
from tests.factories import PASSWORD, reviewers_group

# Hypothesis: locally every run explores new examples (and replays past failures from
# .hypothesis/); on CI the examples are derived from each test itself, so a run is
# reproducible.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Keep the SQLite test database in a file, not in memory, so a daphne process
    started by the browser tests serves the same data the tests write."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        path = tmp_path_factory.mktemp("database") / "test.sqlite3"
        database.setdefault("TEST", {})["NAME"] = str(path)


@pytest.fixture(autouse=True)
def test_settings(settings, tmp_path):
    """Instant demo answers, the test client's host, and files in a scratch folder."""
    settings.CHAT_DEMO_WORD_DELAY = 0
    settings.ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()  # limit counters and turn locks must not leak between tests


@pytest.fixture
def alice(django_user_model):
    """A site user (password: tests.factories.PASSWORD)."""
    return django_user_model.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model):
    """Another site user, whose data alice must never see."""
    return django_user_model.objects.create_user("bob", password=PASSWORD)


@pytest.fixture
def staff(django_user_model):
    """A staff member with no permissions: may log in to the admin, may see nothing."""
    return django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True)


@pytest.fixture
def reviewer(django_user_model):
    """A staff member in the "Conversation reviewers" group: may read conversations."""
    user = django_user_model.objects.create_user("rita", password=PASSWORD, is_staff=True)
    user.groups.add(reviewers_group())
    return user


@pytest.fixture
def alice_chat(alice) -> ChatKitClient:
    return ChatKitClient(alice)


@pytest.fixture
def bob_chat(bob) -> ChatKitClient:
    return ChatKitClient(bob)


@pytest.fixture(autouse=True)
async def close_async_orm_connections():
    """The async ORM queries from asgiref's worker thread, whose connection Django never
    closes; left open it keeps PostgreSQL from dropping the test database."""
    yield
    await sync_to_async(connections.close_all)()
    await asyncio.to_thread(db.close_connections)


REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def shared_redis(settings):
    """This process shares Redis (cache, leases, channel layer) with the other instances a
    test starts, under a prefix of its own; returns their environment."""
    prefix = f"test-{uuid.uuid4().hex}"
    settings.REDIS_URL = REDIS
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS,
            "KEY_PREFIX": prefix,
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS], "prefix": f"{prefix}chat-layer"},
        }
    }
    return {"REDIS_URL": REDIS, "CACHE_KEY_PREFIX": prefix}


@pytest.fixture(autouse=True)
async def no_turn_outlives_its_test():
    """A turn still running when its test ends is stopped and awaited, so it neither
    writes into the next test's database nor dies with the test's event loop."""
    yield
    from chat.chatkit.runner import RUNNERS, heartbeat

    tasks = [runner.task for runner in RUNNERS.values() if runner.task is not None]
    for runner in list(RUNNERS.values()):
        runner.stop()
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    RUNNERS.clear()
    if heartbeat.task is not None:
        heartbeat.task.cancel()
        heartbeat.task = None
