"""Brute force: failed logins are throttled per account and per address (django-axes)."""

from datetime import timedelta

import pytest
from django.test import Client

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def low_limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


def token(client: Client, password: str, username: str = "alice", address: str = "10.0.0.1"):
    return client.post(
        "/api/token/",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def test_the_token_api_answers_429_json_with_retry_after_once_locked(alice):
    client = Client()
    statuses = [token(client, "wrong").status_code for _ in range(3)]

    locked = token(client, PASSWORD)  # even the right password, while locked

    assert statuses == [401, 401, 429]  # the failure that reaches the limit locks
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert int(locked["Retry-After"]) > 0
    assert "Too many failed login attempts" in locked.json()["detail"]


def test_the_account_is_locked_from_another_address_too(alice):
    for index in range(3):
        token(Client(), "wrong", address=f"10.0.1.{index}")

    assert token(Client(), PASSWORD, address="10.0.2.1").status_code == 429


def test_one_address_guessing_many_accounts_is_locked(alice, bob):
    for index in range(3):
        token(Client(), "wrong", username=f"nobody{index}", address="10.0.3.1")

    assert token(Client(), PASSWORD, username="bob", address="10.0.3.1").status_code == 429
    assert token(Client(), PASSWORD, username="bob", address="10.0.3.2").status_code == 200


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_the_login_forms_say_why_they_refuse(alice, path):
    client = Client()
    for _ in range(3):
        client.post(path, {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.4.1")

    response = client.post(
        path, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.4.1"
    )

    assert response.status_code == 429
    assert response["Retry-After"]
    assert b"Too many failed login attempts" in response.content


def test_a_french_browser_is_told_in_french(alice, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    client = Client(headers={"accept-language": "fr"})
    for _ in range(3):
        client.post(
            "/accounts/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.5.1"
        )

    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.5.1"
    )

    body = response.content.decode()
    assert response.status_code == 429
    assert "<h1>Trop de tentatives de connexion</h1>" in body
    assert "Veuillez patienter 15 minutes et réessayer." in body
