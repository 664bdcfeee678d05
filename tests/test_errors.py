"""One error shape: every refusal of a JSON endpoint is `{"detail": ...}` JSON, whichever
layer refuses it (the chat views, DRF, Django's CSRF check, URL resolution, a crash)."""

import json

import pytest
from django.test import Client

from chat import views
from chat.errors import ChatError, LimitExceeded, Unavailable, error_response
from tests.chatkit_client import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def detail_of(response) -> str:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return json.loads(response.content)["detail"]


@pytest.mark.parametrize("path", ["/chatkit/no-such-endpoint/", "/api/no-such-endpoint/"])
def test_an_unknown_api_path_is_a_json_404(path):
    response = Client().get(path)

    assert response.status_code == 404
    assert detail_of(response) == "Not found."


def test_an_unknown_page_keeps_the_html_404():
    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_token_request_missing_fields_names_them_in_detail():
    response = Client().post("/api/token/", {}, content_type="application/json")

    assert response.status_code == 400
    assert detail_of(response) == (
        "username: This field is required. password: This field is required."
    )
    assert response.json()["fields"] == {
        "username": ["This field is required."],
        "password": ["This field is required."],
    }


def test_the_session_exchange_refuses_get_with_json_405(alice):
    client = Client()
    client.force_login(alice)

    response = client.get("/api/token/session/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert detail_of(response) == "Use POST."


def test_the_session_exchange_without_csrf_token_is_a_json_403(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post("/api/token/session/")

    assert response.status_code == 403
    assert detail_of(response).startswith("CSRF check failed")


def test_a_crash_in_the_chatkit_endpoint_is_a_json_500(alice, monkeypatch):
    async def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "run_request", crash)
    client = Client(raise_request_exception=False)

    response = client.post(
        "/chatkit/", b'{"type": "threads.list", "params": {}}',
        content_type="application/json", headers=bearer(alice),
    )

    assert response.status_code == 500
    assert detail_of(response) == "Something went wrong on the server. Please retry."


@pytest.mark.parametrize(
    "error, status, headers",
    [
        (ChatError("Nope."), 400, {}),
        (ChatError("Too big.", status=413), 413, {}),
        (LimitExceeded("Slow down.", 0.2), 429, {"Retry-After": "1"}),
        (Unavailable(), 503, {"Retry-After": "5"}),
    ],
)
def test_every_chat_error_answers_with_its_status_detail_and_headers(error, status, headers):
    response = error_response(error)

    assert response.status_code == status
    assert detail_of(response) == error.message
    assert {name: response[name] for name in headers} == headers
