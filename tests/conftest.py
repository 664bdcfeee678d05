import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connections

from tests.chatkit_client import ChatKitClient


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
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-1")


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
