"""The probes: `/healthz/` (liveness, touches nothing) and `/readyz/` (database, Redis,
channel layer), answered whatever the Host and the scheme."""

import pytest
from django.db import DatabaseError

from tests.instances import PrivateRedis

pytestmark = pytest.mark.django_db(transaction=True)


def broken_database(monkeypatch) -> None:
    def unreachable(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", unreachable)


async def test_healthz_is_ok_without_touching_the_database(async_client, monkeypatch):
    broken_database(monkeypatch)

    response = await async_client.get("/healthz/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ok_when_every_dependency_answers(async_client):
    response = await async_client.get("/readyz/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}


async def test_readyz_is_503_naming_the_database_when_it_does_not_answer(
    async_client, monkeypatch
):
    broken_database(monkeypatch)

    response = await async_client.get("/readyz/")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["down"] == ["database"]
    monkeypatch.undo()  # the database is back: the next probe recovers by itself
    assert (await async_client.get("/readyz/")).status_code == 200


async def test_readyz_names_a_stopped_redis_and_the_channel_layer_on_it(
    async_client, settings, tmp_path
):
    redis = PrivateRedis(tmp_path / "redis").start()
    try:
        settings.REDIS_URL = redis.url
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [redis.url], "prefix": "readyz-test"},
            }
        }
        healthy = await async_client.get("/readyz/")
        redis.stop()
        stopped = await async_client.get("/readyz/")
    finally:
        redis.stop()

    assert healthy.status_code == 200
    assert healthy.json()["redis"] == "ok"
    assert stopped.status_code == 503
    assert stopped.json()["down"] == ["channel_layer", "redis"]
    assert stopped.json()["database"] == "ok"


@pytest.mark.parametrize("path", ["/healthz/", "/readyz/"])
async def test_probes_answer_any_host_over_plain_http(async_client, settings, path):
    """A container health check reaches the worker by address, over HTTP."""
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    probe = await async_client.get(path, headers={"Host": "127.0.0.1:8000"})
    page = await async_client.get("/", headers={"Host": "127.0.0.1:8000"})

    assert probe.status_code == 200
    assert page.status_code == 400  # every other path keeps the host check


async def test_chatkit_answers_503_when_the_database_is_down(alice_chat, monkeypatch):
    broken_database(monkeypatch)

    status, body = await alice_chat.call("threads.list")

    assert status == 503
    assert "temporarily unavailable" in body["detail"]
    monkeypatch.undo()
    assert (await alice_chat.call("threads.list"))[0] == 200


async def test_the_503_speaks_the_language_of_the_request(alice_chat, monkeypatch):
    broken_database(monkeypatch)
    alice_chat.headers = {**alice_chat.headers, "Accept-Language": "fr"}

    status, body = await alice_chat.call("threads.list")

    assert status == 503
    assert body["detail"] == "Le service est momentanément indisponible. Veuillez réessayer."
