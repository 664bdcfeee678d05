""""My data": a logged-in user downloads all their conversations (JSON, Markdown, streamed)
and deletes them with confirmation, files included; nobody else's data is ever touched."""

import asyncio
import json

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.test.client import AsyncClient

from chat import models
from tests import factories

pytestmark = [
    pytest.mark.django_db,
    # The site is served over ASGI, where the export streams (see the ASGI test below);
    # Django's WSGI test client gathers the chunks first, and says so.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous"),
]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def histories(alice, bob):
    """Two conversations of alice's (one with a file), one of bob's (with a file)."""
    first = factories.make_thread(alice, "thr_a1", title="Alice one")
    factories.user_says(first, "a1_q", "Alice asks about  indented\n    code")
    factories.assistant_says(first, "a1_a", "Alice's answer")
    second = factories.make_thread(alice, "thr_a2", title="Alice two", minutes=5)
    factories.user_says(second, "a2_q", "Second question")
    factories.add_upload(alice, "att_alice", thread=first)
    theirs = factories.make_thread(bob, "thr_b1", title="Bob secret")
    factories.user_says(theirs, "b1_q", "Bob's private words")
    factories.add_upload(bob, "att_bob", thread=theirs)
    return {"alice": [first, second], "bob": [theirs]}


def download(client: Client, url: str) -> tuple[object, str]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.streaming
    return response, b"".join(response).decode()


def test_the_page_says_what_is_stored_and_links_the_downloads(alice, histories):
    body = logged_in(alice).get("/my-data/").content.decode()
    assert "You have 2 conversations (3 messages and other items) and 1 attachment" in body
    assert 'href="/my-data/export.json"' in body and 'href="/my-data/export.md"' in body


def test_visitors_are_sent_to_log_in(histories):
    for url in ("/my-data/", "/my-data/export.json", "/my-data/export.md"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith(
            "/accounts/login/"
        )
    assert Client().post("/my-data/delete/", {"confirm": "delete"}).status_code == 302
    assert models.Thread.objects.count() == 3


def test_json_export_holds_all_of_mine_and_none_of_theirs(alice, histories):
    response, text = download(logged_in(alice), "/my-data/export.json")
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(text)
    threads = document["threads"] if isinstance(document, dict) else document
    assert sorted(thread["id"] for thread in threads) == ["thr_a1", "thr_a2"]
    assert "Bob" not in text


def test_markdown_export_keeps_indentation_and_isolation(alice, bob, histories):
    _, text = download(logged_in(alice), "/my-data/export.md")
    assert "Alice one" in text and "Alice two" in text
    assert "    code" in text
    assert "Bob secret" not in text and "private words" not in text
    _, theirs = download(logged_in(bob), "/my-data/export.md")
    assert "Bob secret" in theirs and "Alice" not in theirs


@pytest.mark.django_db(transaction=True)
async def test_the_export_streams_under_asgi(alice, histories):
    client = AsyncClient()
    await client.aforce_login(alice)
    response = await client.get("/my-data/export.json")
    assert response.status_code == 200
    chunks = [chunk async for chunk in response.streaming_content]
    assert b"thr_a1" in b"".join(chunks) and b"thr_b1" not in b"".join(chunks)


def test_delete_needs_the_confirmation_word(alice, histories):
    client = logged_in(alice)
    response = client.post("/my-data/delete/", {"confirm": "yes please"}, follow=True)
    assert "Nothing deleted" in response.content.decode()
    assert models.Thread.objects.filter(owner=alice).count() == 2
    assert client.get("/my-data/delete/").status_code == 405


def test_delete_removes_mine_with_files_and_leaves_theirs(
    alice, bob, histories, django_capture_on_commit_callbacks
):
    alice_file = models.Attachment.objects.get(pk="att_alice").file.name
    bob_file = models.Attachment.objects.get(pk="att_bob").file.name
    client = logged_in(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/my-data/delete/", {"confirm": "delete"}, follow=True)

    body = response.content.decode()
    assert "Deleted: 2 conversations (3 messages and other items) and 1 attachment" in body
    assert not models.Thread.objects.filter(owner=alice).exists()
    assert not models.ThreadItem.objects.filter(thread__owner=alice).exists()
    assert not models.Attachment.objects.filter(owner=alice).exists()
    assert not default_storage.exists(alice_file)
    # Bob's conversation and file are untouched.
    assert list(models.Thread.objects.values_list("pk", flat=True)) == ["thr_b1"]
    assert default_storage.exists(bob_file)
    assert "You have 0 conversations" in body


def test_open_tabs_hear_that_the_conversations_are_gone(alice, bob, histories):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from chat.chatkit.broadcast import user_group

    layer = get_channel_layer()
    mine, theirs = async_to_sync(layer.new_channel)(), async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(alice.pk), mine)
    async_to_sync(layer.group_add)(user_group(bob.pk), theirs)

    logged_in(alice).post("/my-data/delete/", {"confirm": "delete"})

    heard = [async_to_sync(layer.receive)(mine)["event"] for _ in range(2)]
    assert sorted(event["thread_id"] for event in heard) == ["thr_a1", "thr_a2"]
    assert {event["type"] for event in heard} == {"thread.deleted"}

    async def silent(channel: str) -> bool:
        try:
            await asyncio.wait_for(layer.receive(channel), 0.2)
        except TimeoutError:
            return True
        return False

    assert async_to_sync(silent)(theirs), "bob's tabs hear nothing"
    async_to_sync(layer.group_discard)(user_group(alice.pk), mine)
    async_to_sync(layer.group_discard)(user_group(bob.pk), theirs)


def test_the_page_and_its_messages_speak_french(alice, histories):
    client = Client(headers={"accept-language": "fr"})
    client.force_login(alice)
    body = client.get("/my-data/").content.decode()
    assert "Vous avez 2 conversations (3 messages et autres éléments) et 1 pièce jointe" in body
    assert "Tapez <strong>supprimer</strong> pour confirmer :" in body

    refused = client.post("/my-data/delete/", {"confirm": "delete it"}, follow=True)
    assert "Rien n’a été supprimé : tapez « supprimer » pour confirmer." in refused.content.decode()
    assert models.Thread.objects.filter(owner=alice).count() == 2

    done = client.post("/my-data/delete/", {"confirm": "Supprimer"}, follow=True)
    assert "Suppression effectuée : 2 conversations (3 messages et autres éléments)" in (
        done.content.decode()
    )
    assert not models.Thread.objects.filter(owner=alice).exists()
