"""Tokens that must be refused with 401 JSON (never a 500), tokens a password change
revokes, and bodies Django refuses answered as JSON."""

import json

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.chatkit_client import ChatKitClient, user_input
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def refresh(client: Client, token: str):
    return client.post("/api/token/refresh/", {"refresh": token}, content_type="application/json")


def threads_list(access: str):
    return Client().post(
        "/chatkit/",
        json.dumps({"type": "threads.list", "params": {}}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {access}"},
    )


def test_a_deleted_users_refresh_token_gets_401_json(alice):
    token = str(RefreshToken.for_user(alice))
    alice.delete()

    response = refresh(Client(), token)

    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_deactivated_users_refresh_token_gets_401(alice):
    token = str(RefreshToken.for_user(alice))
    alice.is_active = False
    alice.save()

    assert refresh(Client(), token).status_code == 401


@pytest.mark.parametrize("claim", [[1], {}, 1.5, True, None, ""])
def test_odd_user_id_claims_get_401(alice, claim):
    access = AccessToken.for_user(alice)
    access["user_id"] = claim
    refresh_token = RefreshToken.for_user(alice)
    refresh_token["user_id"] = claim

    chatkit = threads_list(str(access))
    refreshed = refresh(Client(), str(refresh_token))

    assert chatkit.status_code == 401, chatkit.content
    assert chatkit["Content-Type"] == "application/json"
    assert refreshed.status_code == 401, refreshed.content


def test_a_password_change_revokes_older_access_and_refresh_tokens(alice):
    pair = (
        Client()
        .post(
            "/api/token/",
            {"username": "alice", "password": PASSWORD},
            content_type="application/json",
        )
        .json()
    )
    assert threads_list(pair["access"]).status_code == 200

    alice.set_password("a new and long passphrase")
    alice.save()

    assert threads_list(pair["access"]).status_code == 401
    assert refresh(Client(), pair["refresh"]).status_code == 401
    fresh = (
        Client()
        .post(
            "/api/token/",
            {"username": "alice", "password": "a new and long passphrase"},
            content_type="application/json",
        )
        .json()
    )
    assert threads_list(fresh["access"]).status_code == 200


def test_the_session_token_follows_the_session(alice):
    browser = Client(enforce_csrf_checks=False)
    browser.force_login(alice)
    access = browser.post("/api/token/session/").json()["access"]
    assert threads_list(access).status_code == 200

    alice.set_password("a new and long passphrase")
    alice.save()

    assert threads_list(access).status_code == 401
    assert browser.post("/api/token/session/").status_code == 401  # logged out too


# --- bodies Django refuses ------------------------------------------------------------------


def multipart(parts: list[bytes], boundary: str = "b0undary") -> bytes:
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    return body + f"--{boundary}--\r\n".encode()


def upload(alice, body: bytes, content_type: str):
    return Client().generic(
        "POST",
        "/chatkit/upload/",
        body,
        content_type=content_type,
        headers=ChatKitClient(alice).headers,
    )


def field(name: str, value: str = "x") -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()


def file_part(name: str = "file") -> bytes:
    return (
        f'Content-Disposition: form-data; name="{name}"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nhello"
    ).encode()


def test_too_many_fields_get_400_json(alice):
    body = multipart([field(f"f{index}") for index in range(1500)] + [file_part()])

    response = upload(alice, body, "multipart/form-data; boundary=b0undary")

    assert response.status_code == 400
    assert "too many form fields" in response.json()["detail"]


def test_too_many_files_get_400_json(alice):
    body = multipart([file_part(f"file{index}") for index in range(150)])

    response = upload(alice, body, "multipart/form-data; boundary=b0undary")

    assert response.status_code == 400
    assert "too many files" in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\x00"],
)
def test_a_malformed_multipart_boundary_gets_400_json(alice, content_type):
    body = multipart([file_part()])

    response = upload(alice, body, content_type)

    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_token_request_with_too_many_fields_gets_400_json(alice):
    body = "&".join(f"f{index}=x" for index in range(1500))

    response = Client().generic(
        "POST", "/api/token/", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


def test_a_streamed_message_still_works(alice):
    """The new checks leave a plain conversation alone."""
    response = Client().post(
        "/chatkit/",
        json.dumps({"type": "threads.create", "params": {"input": user_input("hi")}}),
        content_type="application/json",
        headers=ChatKitClient(alice).headers,
    )
    assert response.status_code == 200
