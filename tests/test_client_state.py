"""The built-in client's extra endpoints: thread search, item states, undoing a vote,
editing a sent message. Each is Bearer-only and scoped to the user."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from chat import models
from tests.chatkit_client import bearer
from tests.factories import T0, assistant_says, make_thread, user_says

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client():
    return Client()


def get(client, user, path, **params):
    response = client.get(path, params, headers=bearer(user))
    return response.status_code, response.json()


def test_search_orders_by_last_activity_and_pages(client, alice, bob):
    for n in range(5):
        thread = make_thread(alice, f"t{n}", title=f"Thread {n}", minutes=n)
        # t0 is the most recently active, then t4, t3, ...
        thread.updated_at = T0 + timedelta(minutes=100 if n == 0 else n)
        thread.save()
    make_thread(bob, "bobs", title="Thread of Bob")

    status, page = get(client, alice, "/chatkit/threads/search/", limit=3)
    assert status == 200
    assert [row["id"] for row in page["data"]] == ["t0", "t4", "t3"]
    assert page["has_more"] is True
    status, rest = get(client, alice, "/chatkit/threads/search/", limit=3, after=page["after"])
    assert [row["id"] for row in rest["data"]] == ["t2", "t1"]
    assert rest["has_more"] is False and rest["after"] is None


def test_search_matches_titles_and_message_text_of_the_user_only(client, alice, bob):
    make_thread(alice, "a1", title="Quarterly taxes")
    by_text = make_thread(alice, "a2", title="Something else", minutes=1)
    user_says(by_text, "m1", "How do I file my TAXES late?")
    make_thread(alice, "a3", title="Unrelated", minutes=2)
    bobs = make_thread(bob, "b1", title="Taxes of Bob")
    user_says(bobs, "m2", "taxes")

    status, page = get(client, alice, "/chatkit/threads/search/", q="taxes")
    assert status == 200
    found = {row["id"]: row for row in page["data"]}
    assert set(found) == {"a1", "a2"}
    assert "TAXES" in found["a2"]["excerpt"]
    assert found["a1"]["excerpt"] == ""


def test_search_needs_a_token_and_a_good_cursor(client, alice):
    assert client.get("/chatkit/threads/search/").status_code == 401
    status, body = get(client, alice, "/chatkit/threads/search/", after="nonsense")
    assert status == 400 and "cursor" in body["detail"]


def test_item_states_give_the_users_votes_and_cut_answers(client, alice, bob):
    thread = make_thread(alice, "t1")
    user_says(thread, "u1", "hi", second=1)
    first = assistant_says(thread, "a1", "hello", second=2)
    user_says(thread, "u2", "more", second=3)
    assistant_says(thread, "a2", "cut sh", second=4)
    models.Feedback.objects.create(item=first, user=alice, kind="positive")
    models.Feedback.objects.create(item=first, user=bob, kind="negative")
    models.Turn.objects.create(
        id="turn1",
        user=thread.owner,
        thread=thread,
        kind="threads.add_user_message",
        state=models.Turn.State.STOPPED,
        started_at=T0 + timedelta(seconds=3),
        lease_expires_at=T0,
        finished_at=T0 + timedelta(seconds=5),
    )
    status, states = get(client, alice, "/chatkit/threads/t1/items/")
    assert status == 200
    assert states == {"feedback": {"a1": "positive"}, "cut": {"a2": "stopped"}}
    assert get(client, bob, "/chatkit/threads/t1/items/")[0] == 404


def test_a_vote_is_undone(client, alice, bob):
    thread = make_thread(alice, "t1")
    answer = assistant_says(thread, "a1", "hello")
    models.Feedback.objects.create(item=answer, user=alice, kind="negative")
    path = "/chatkit/threads/t1/items/a1/feedback/"
    assert client.delete(path, headers=bearer(bob)).status_code == 404
    response = client.delete(path, headers=bearer(alice))
    assert response.status_code == 200 and response.json() == {"cleared": True}
    assert not models.Feedback.objects.exists()


def test_a_sent_message_is_edited(client, alice, bob):
    thread = make_thread(alice, "t1")
    user_says(thread, "u1", "helo wrld", quoted_text="a quote")
    assistant_says(thread, "a1", "hello")
    path = "/chatkit/threads/t1/items/u1/edit/"

    def post(user, body):
        return client.post(
            path, json.dumps(body), content_type="application/json", headers=bearer(user)
        )

    assert post(bob, {"text": "x"}).status_code == 404
    assert post(alice, {"text": "  "}).status_code == 400
    assert (
        client.post(
            "/chatkit/threads/t1/items/a1/edit/",
            json.dumps({"text": "x"}),
            content_type="application/json",
            headers=bearer(alice),
        ).status_code
        == 400
    )
    response = post(alice, {"text": "hello world"})
    assert response.status_code == 200
    row = models.ThreadItem.objects.get(item_id="u1")
    assert row.data["content"] == [{"type": "input_text", "text": "hello world"}]
    assert row.data["quoted_text"] == "a quote"
    assert "hello world" in row.text

    models.Turn.objects.create(
        id="turn1",
        user=thread.owner,
        thread=thread,
        kind="threads.add_user_message",
        started_at=T0,
        lease_expires_at=T0,
    )
    assert post(alice, {"text": "again"}).status_code == 409


def test_the_widget_gallery_is_for_staff_or_debug_only(client, settings, django_user_model):
    settings.DEBUG = False
    assert client.get("/chat/widgets/").status_code == 404
    client.force_login(django_user_model.objects.create_user("someone", password="x"))
    assert client.get("/chat/widgets/").status_code == 404
    client.force_login(django_user_model.objects.create_user("boss", password="x", is_staff=True))
    response = client.get("/chat/widgets/")
    assert response.status_code == 200
    assert b'"type": "Chart"' in response.content


def test_the_full_page_chat_needs_a_login_and_carries_the_config(client, alice):
    assert client.get("/chat/").status_code == 302
    client.force_login(alice)
    page = client.get("/chat/").content.decode()
    assert "data-chat-page" in page and 'id="chat-config"' in page
    assert 'id="chat-launcher"' in page  # hidden, but there for the shared script


def test_french_pages_and_client_catalog(client, alice):
    client.force_login(alice)
    page = client.get("/", headers={"accept-language": "fr"}).content.decode()
    assert '<html lang="fr">' in page and "À propos" in page
    catalog = client.get("/jsi18n/", headers={"accept-language": "fr"}).content.decode()
    assert "Nouvelle conversation" in catalog
