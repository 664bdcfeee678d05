import pytest
from django.db import DatabaseError

pytestmark = pytest.mark.django_db(transaction=True)


async def test_healthz_is_ok_when_the_database_answers(async_client):
    response = await async_client.get("/healthz/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_healthz_is_503_when_the_database_does_not(async_client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", unreachable)

    response = await async_client.get("/healthz/")

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    monkeypatch.undo()  # the database is back: the next request recovers by itself
    assert (await async_client.get("/healthz/")).status_code == 200


async def test_chatkit_answers_503_when_the_database_is_down(alice_chat, monkeypatch):
    def unreachable(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", unreachable)

    status, body = await alice_chat.call("threads.list")

    assert status == 503
    assert "temporarily unavailable" in body["detail"]
    monkeypatch.undo()
    assert (await alice_chat.call("threads.list"))[0] == 200
