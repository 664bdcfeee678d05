"""Staff review in Django admin: the thread list (columns, speed, search, filters), the
transcript (readable, and escaped), exports, deleting, the feedback list, and who may do
what (superusers, reviewers, other staff, non-staff)."""

import json

import pytest
from chatkit.types import ClientToolCallItem, FileAttachment
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group, Permission
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat import admin as chat_admin
from chat import models
from chat.review import transcript as chat_transcript
from tests.factories import (
    EVERY_ITEM_TYPE,
    T0,
    add,
    add_upload,
    answer,
    assistant_says,
    every_item_type,
    make_thread,
    reviewers_group,
    user_says,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chat/thread/"


def page(thread_id: str, view: str = "change") -> str:
    """The admin URL of a thread, its primary key quoted the way the admin quotes it."""
    return reverse(f"admin:chat_thread_{view}", args=[quote(thread_id)])


def conversation(owner, thread_id: str, minutes: int = 0, title: str = "") -> models.Thread:
    """A thread with a question, an answer, one positive and one negative feedback, and
    100 + 23 tokens used."""
    thread = make_thread(
        owner,
        thread_id,
        title or f"About {thread_id}",
        minutes,
        input_tokens=100,
        output_tokens=23,
    )
    question = user_says(thread, f"{thread_id}_q", f"question in {thread_id}")
    answer = assistant_says(thread, f"{thread_id}_a", f"answer in {thread_id}")
    models.Feedback.objects.create(item=answer, user=owner, kind="negative")
    models.Feedback.objects.create(item=question, user=owner, kind="positive")
    return thread


def select(action: str, *ids: str, **extra) -> dict:
    return {"action": action, "_selected_action": list(ids), "index": 0, **extra}


@pytest.fixture
def reviewer_client(reviewer) -> Client:
    client = Client()
    client.force_login(reviewer)
    return client


# --- thread list ----------------------------------------------------------------------------


def changelist_queries(client: Client, expected_rows: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.content.decode().count('class="action-select"') == expected_rows
    return len(queries.captured_queries)


def test_changelist_queries_are_the_same_for_5_and_50_threads(admin_client, alice, bob):
    for n in range(5):
        conversation(alice, f"thr_{n:03}", minutes=n)
    five = changelist_queries(admin_client, 5)

    for n in range(5, 50):
        conversation(bob if n % 2 else alice, f"thr_{n:03}", minutes=n)
    fifty = changelist_queries(admin_client, 50)

    assert five == fifty


def test_changelist_columns(admin_client, alice):
    thread = conversation(alice, "thr_cols", title="Columns")
    assistant_says(thread, "extra", "one more", second=3)

    html = admin_client.get(CHANGELIST).content.decode()

    row = html[html.index(page("thr_cols")) :]
    row = row[: row.index("</tr>")]
    assert "Columns" in row
    assert f'href="?owner={alice.pk}"' in row and ">alice<" in row
    assert '<td class="field-item_total">3</td>' in row
    assert '<span title="positive">+1</span> / <span title="negative">−1</span>' in row
    assert '<td class="field-tokens_used">123</td>' in row


def test_sorting_by_items_and_tokens(admin_client, alice):
    short = conversation(alice, "thr_short")
    long = conversation(alice, "thr_long", minutes=1)
    for n in range(3):
        assistant_says(long, f"more_{n}", "more", second=10 + n)
    models.Thread.objects.filter(pk=short.pk).update(input_tokens=10_000)
    # Columns: 1 title, 2 owner, 3 items, 4 last activity, 5 feedback, 6 tokens.
    by_items = admin_client.get(CHANGELIST, {"o": "-3"}).content.decode()
    assert by_items.index('value="thr_long"') < by_items.index('value="thr_short"')
    by_tokens = admin_client.get(CHANGELIST, {"o": "-6"}).content.decode()
    assert by_tokens.index('value="thr_short"') < by_tokens.index('value="thr_long"')


def test_search_finds_message_text_and_lists_a_thread_once(admin_client, alice, bob):
    hit = make_thread(alice, "thr_hit", "Holiday")
    for n in range(3):
        user_says(hit, f"hit_{n}", f"the needle number {n}", second=n)
    miss = make_thread(bob, "thr_miss", "Work")
    user_says(miss, "miss_0", "nothing here")
    bob.email = "bob@example.org"
    bob.save()

    html = admin_client.get(CHANGELIST, {"q": "needle"}).content.decode()
    assert html.count(f'value="{hit.pk}"') == 1
    assert f'value="{miss.pk}"' not in html

    by_email = admin_client.get(CHANGELIST, {"q": "example.org"}).content.decode()
    assert f'value="{miss.pk}"' in by_email and f'value="{hit.pk}"' not in by_email

    # Every word must match somewhere: title AND message text.
    both = admin_client.get(CHANGELIST, {"q": "holiday needle"}).content.decode()
    assert f'value="{hit.pk}"' in both
    neither = admin_client.get(CHANGELIST, {"q": "work needle"}).content.decode()
    assert f'value="{hit.pk}"' not in neither and f'value="{miss.pk}"' not in neither


def test_filters_by_negative_feedback_and_by_owner(admin_client, alice, bob):
    conversation(alice, "thr_neg")
    calm = make_thread(bob, "thr_calm", "Calm")
    user_says(calm, "calm_q", "hi")

    negative = admin_client.get(CHANGELIST, {"feedback": "negative"}).content.decode()
    assert 'value="thr_neg"' in negative and 'value="thr_calm"' not in negative

    none = admin_client.get(CHANGELIST, {"feedback": "none"}).content.decode()
    assert 'value="thr_calm"' in none and 'value="thr_neg"' not in none

    owned = admin_client.get(CHANGELIST, {"owner": bob.pk}).content.decode()
    assert 'value="thr_calm"' in owned and 'value="thr_neg"' not in owned
    # The sidebar names the chosen owner.
    assert ">bob</a>" in owned


def test_a_bad_owner_filter_does_not_crash(admin_client, alice):
    response = admin_client.get(CHANGELIST, {"owner": "not-a-number"})
    assert response.status_code == 200


# --- thread page -------------------------------------------------------------------------------


XSS = [
    '<script>alert("x")</script>',
    "<img src=x onerror=alert(1)>",
]


def test_transcript_escapes_everything_users_and_models_wrote(admin_client, alice):
    thread = make_thread(alice, "thr_xss", title='<script>alert("title")</script>')
    user_says(
        thread,
        "xss_q",
        XSS[0],
        quoted_text=XSS[1],
        attachments=[FileAttachment(id="atc_x", name=XSS[1], mime_type="text/plain")],
    )
    assistant_says(thread, "xss_a", XSS[1] + " and " + XSS[0])
    add(
        thread,
        ClientToolCallItem(
            id="xss_t",
            thread_id=thread.id,
            created_at=T0,
            call_id="c",
            name=XSS[0],
            arguments={"html": XSS[1]},
            output=XSS[0],
        ),
    )
    models.Feedback.objects.create(
        item=models.ThreadItem.objects.get(item_id="xss_a"), user=alice, kind="negative"
    )

    html = admin_client.get(page("thr_xss")).content.decode()

    assert "<script>alert" not in html
    assert "<img src=x onerror" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_transcript_shows_the_conversation(admin_client, alice):
    every_item_type(alice, "thr_read", "Readable")

    response = admin_client.get(page("thr_read"))
    html = response.content.decode()

    assert response.status_code == 200
    assert "Conversation: 11 items" in html
    shown = [item_type for item_type in EVERY_ITEM_TYPE if item_type != "end_of_turn"]
    starts = [html.index(f'id="item-thr_read_{item_type}"') for item_type in shown]
    assert starts == sorted(starts), "items in conversation order"
    assert 'id="item-thr_read_end_of_turn"' not in html
    ends = [*starts[1:], len(html)]
    section = {
        item_type: html[start:end]
        for item_type, start, end in zip(shown, starts, ends, strict=True)
    }
    question = section["user_message"]
    assert "User" in question and "Where should I &quot;stay&quot;?\nSecond line" in question
    assert '<blockquote class="chat-quote">cheap hotels</blockquote>' in question
    assert '<a href="/chatkit/attachments/atc_thr_read/">atc_thr_read.txt</a>' in question
    assert "2025-05-06 07:08:10" in question
    answer = section["assistant_message"]
    assert "Try Alfama." in answer
    assert "chat-feedback-negative" in answer and "negative (alice)" in answer
    assert "chat-feedback" not in question
    assert "<code>get_weather</code> (completed)" in section["client_tool_call"]
    assert "Widget summary" in section["widget"]
    assert 'href="https://images.example/lisbon.png"' in section["generated_image"]
    assert "Which day? — Sunday" in section["structured_input"]
    workflow = section["workflow"]
    assert "Thinking it over" in workflow and "<strong>Plan</strong>: Compare districts" in workflow
    assert "<strong>weather</strong>: lisbon weather" in section["task"]
    for item_type, text in [
        ("hidden_context_item", "/trips/"),
        ("sdk_hidden_context", "internal bookkeeping"),
    ]:
        assert "chat-internal" in section[item_type] and text in section[item_type]
    # Read-only: no form fields to edit, no save button.
    assert 'name="title"' not in html and 'name="_save"' not in html


def test_a_long_thread_shows_its_start_and_says_so(admin_client, alice, monkeypatch):
    monkeypatch.setattr(chat_transcript, "TRANSCRIPT_LIMIT", 2)
    thread = make_thread(alice, "thr_long_read", "Long")
    for n in range(3):
        user_says(thread, f"long_{n}", f"message number {n}", second=n)

    with CaptureQueriesContext(connection) as queries:
        html = admin_client.get(page("thr_long_read")).content.decode()

    assert "message number 1" in html and "message number 2" not in html
    assert "Showing the first 2 of 3 items" in html
    assert len(queries.captured_queries) < 20


# --- permissions ---------------------------------------------------------------------------


def test_reviewer_can_read_and_export_but_not_change_or_delete(reviewer_client, alice):
    thread = conversation(alice, "thr_rev", title="Reviewed")

    listing = reviewer_client.get(CHANGELIST)
    assert listing.status_code == 200
    assert 'value="thr_rev"' in listing.content.decode()
    assert 'value="delete_selected"' not in listing.content.decode()
    assert reviewer_client.get(page("thr_rev")).status_code == 200
    assert "question in thr_rev" in reviewer_client.get(page("thr_rev")).content.decode()

    exported = reviewer_client.post(CHANGELIST, select("export_json", "thr_rev"))
    assert exported.status_code == 200
    assert exported["Content-Disposition"].startswith("attachment;")

    changed = reviewer_client.post(page("thr_rev"), {"title": "Hacked"})
    assert changed.status_code == 403
    assert reviewer_client.get(page(thread.pk, "delete")).status_code == 403
    deleted = reviewer_client.post(page(thread.pk, "delete"), {"post": "yes"})
    assert deleted.status_code == 403
    assert reviewer_client.get("/admin/chat/thread/add/").status_code == 403
    thread.refresh_from_db()
    assert thread.title == "Reviewed"
    assert models.ThreadItem.objects.filter(thread=thread).count() == 2


def test_reviewer_cannot_delete_feedback_either(reviewer_client, alice):
    conversation(alice, "thr_fb")
    feedback = models.Feedback.objects.first()
    url = f"/admin/chat/feedback/{feedback.pk}/delete/"
    assert reviewer_client.post(url, {"post": "yes"}).status_code == 403
    assert models.Feedback.objects.filter(pk=feedback.pk).exists()


def test_reviewer_can_list_attachments_and_turns(reviewer_client, alice):
    thread = conversation(alice, "thr_lists")
    add_upload(alice, "atc_list", thread=thread)
    answer(alice, thread, tokens=(7, 9), model="gpt-4.1")

    attachments = reviewer_client.get("/admin/chat/attachment/")
    assert attachments.status_code == 200 and "atc_list.txt" in attachments.content.decode()
    detail = reviewer_client.get(reverse("admin:chat_attachment_change", args=["atc_list"]))
    assert '<a href="/chatkit/attachments/atc_list/">atc_list.txt</a>' in detail.content.decode()
    turns = reviewer_client.get("/admin/chat/turn/")
    assert turns.status_code == 200 and "About thr_lists" in turns.content.decode()
    assert "gpt-4.1" in turns.content.decode()


def test_non_staff_are_sent_to_the_login_page(client, alice):
    conversation(alice, "thr_ns")
    client.force_login(alice)
    for url in (CHANGELIST, page("thr_ns"), "/admin/chat/feedback/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")
    anonymous = Client().get(page("thr_ns"))
    assert anonymous["Location"].startswith("/admin/login/?next=")


def test_staff_without_view_thread_cannot_see_conversations(client, staff, alice):
    conversation(alice, "thr_perm")
    client.force_login(staff)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(page("thr_perm")).status_code == 403


def test_the_reviewer_group_reads_and_judges_ratings_only():
    group = reviewers_group()
    assert sorted((p.content_type.app_label, p.codename) for p in group.permissions.all()) == [
        ("chat", "review_feedback"),
        ("chat", "view_attachment"),
        ("chat", "view_feedback"),
        ("chat", "view_thread"),
        ("chat", "view_threaditem"),
        ("chat", "view_turn"),
    ]
    # Running it again (or after someone widened the group) restores exactly that.
    group.permissions.add(Permission.objects.get(codename="delete_thread"))
    reviewers_group()
    assert not group.permissions.filter(codename="delete_thread").exists()
    assert Group.objects.filter(name="Conversation reviewers").count() == 1


# --- export --------------------------------------------------------------------------------


def test_json_export_contains_exactly_the_selected_threads(admin_client, alice, bob):
    for n, owner in enumerate([alice, alice, bob, bob]):
        conversation(owner, f"thr_e{n}", minutes=n)

    response = admin_client.post(CHANGELIST, select("export_json", "thr_e1", "thr_e2"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="threads-')
    assert response["Content-Disposition"].endswith('.json"')
    document = json.loads(response.content)
    assert [thread["id"] for thread in document["threads"]] == ["thr_e1", "thr_e2"]
    items = document["threads"][1]["items"]
    assert [item["text"] for item in items] == ["question in thr_e2", "answer in thr_e2"]
    assert items[1]["feedback"][0]["kind"] == "negative"


def test_markdown_export_contains_exactly_the_selected_threads(admin_client, alice):
    for n in range(3):
        conversation(alice, f"thr_m{n}", minutes=n)

    response = admin_client.post(CHANGELIST, select("export_markdown", "thr_m0", "thr_m2"))

    assert response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"].endswith('.md"')
    text = response.content.decode()
    assert "## About thr_m0" in text and "## About thr_m2" in text
    assert "thr_m1" not in text
    assert "question in thr_m2" in text


def test_an_oversized_admin_export_points_at_the_command(admin_client, alice, monkeypatch):
    monkeypatch.setattr(chat_admin, "ADMIN_EXPORT_MAX_THREADS", 1)
    conversation(alice, "thr_x1")
    conversation(alice, "thr_x2", minutes=1)

    response = admin_client.post(CHANGELIST, select("export_json", "thr_x1", "thr_x2"), follow=True)

    assert "Content-Disposition" not in response
    assert "use `manage.py export_threads`" in response.content.decode()


# --- delete --------------------------------------------------------------------------------


def test_deleting_a_thread_deletes_its_items_attachments_and_files(
    admin_client, alice, django_capture_on_commit_callbacks
):
    doomed = conversation(alice, "thr_del")
    upload = add_upload(alice, "atc_del", thread=doomed)
    kept = conversation(alice, "thr_keep", minutes=1)
    kept_upload = add_upload(alice, "atc_keep", thread=kept)
    url = page(doomed.pk, "delete")

    confirm = admin_client.get(url).content.decode()
    assert "Threads: 1" in confirm and "Items: 2" in confirm
    assert "Attachments (5 bytes): 1" in confirm

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not models.Thread.objects.filter(pk="thr_del").exists()
    assert not models.ThreadItem.objects.filter(thread_id="thr_del").exists()
    assert not models.Attachment.objects.filter(pk="atc_del").exists()
    assert not default_storage.exists(upload.file.name)
    assert models.ThreadItem.objects.filter(thread=kept).count() == 2
    assert models.Feedback.objects.filter(item__thread=kept).count() == 2
    assert default_storage.exists(kept_upload.file.name)


def test_bulk_delete_removes_exactly_the_selected_threads(
    admin_client, alice, django_capture_on_commit_callbacks
):
    uploads = {}
    for n in range(3):
        thread = conversation(alice, f"thr_b{n}", minutes=n)
        uploads[thread.pk] = add_upload(alice, f"atc_b{n}", thread=thread).file.name

    confirm = admin_client.post(CHANGELIST, select("delete_selected", "thr_b0", "thr_b2"))
    assert confirm.status_code == 200 and "Items: 4" in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(CHANGELIST, select("delete_selected", "thr_b0", "thr_b2", post="yes"))

    assert list(models.Thread.objects.values_list("pk", flat=True)) == ["thr_b1"]
    assert set(models.ThreadItem.objects.values_list("thread_id", flat=True)) == {"thr_b1"}
    assert not default_storage.exists(uploads["thr_b0"])
    assert not default_storage.exists(uploads["thr_b2"])
    assert default_storage.exists(uploads["thr_b1"])


# --- feedback list ---------------------------------------------------------------------------


def test_feedback_list_shows_excerpt_kind_user_and_links_to_the_thread(admin_client, alice):
    thread = make_thread(alice, "thr_fl", "Feedback thread")
    answer = assistant_says(thread, "fl_a", "A long answer " + "word " * 60)
    models.Feedback.objects.create(item=answer, user=alice, kind="negative")

    response = admin_client.get("/admin/chat/feedback/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "A long answer word" in html and "…" in html
    assert "word " * 60 not in html
    assert "Negative" in html and "alice" in html
    assert f'href="{page("thr_fl")}#item-fl_a"' in html


def test_feedback_list_queries_do_not_grow_with_rows(admin_client, alice):
    conversation(alice, "thr_q0")
    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/chat/feedback/")
    for n in range(1, 15):
        conversation(alice, f"thr_q{n}", minutes=n)
    with CaptureQueriesContext(connection) as many:
        admin_client.get("/admin/chat/feedback/")
    assert len(few.captured_queries) == len(many.captured_queries)
