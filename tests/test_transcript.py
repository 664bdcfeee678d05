"""The admin transcript as a reviewer reads it: code keeps its indentation, the page a
question was asked from (and the text selected there) is shown with it, images appear as
thumbnails, icons need no emoji font, and an upload that failed says so."""

import re

import pytest
from chatkit.types import FileAttachment, ImageAttachment
from django.contrib.admin.utils import quote
from django.urls import reverse

from chat import models
from chat.chatkit.store import DjangoStore
from chat.context import PageContext, RequestContext
from tests.factories import add_upload, assistant_says, make_thread, user_says

pytestmark = pytest.mark.django_db

CODE = "def double(x):\n    return x * 2"


def page(thread_id: str) -> str:
    return reverse("admin:chat_thread_change", args=[quote(thread_id)])


def item_html(html: str, item_id: str) -> str:
    start = html.index(f'id="item-{item_id}"')
    end = html.find('<li id="item-', start + 1)
    return html[start : end if end != -1 else len(html)]


def test_code_keeps_its_indentation(admin_client, alice):
    thread = make_thread(alice, "thr_code")
    user_says(thread, "code_q", "Fix this:\n" + CODE)
    assistant_says(thread, "code_a", "Here:\n```python\n" + CODE + "\n```")

    html = admin_client.get(page("thr_code")).content.decode()

    for item_id in ("code_q", "code_a"):
        text = re.search(r'<div class="chat-text">(.*?)</div>', item_html(html, item_id), re.S)
        assert "\n    return x * 2" in text[1]
    # Shown as written: whitespace is kept by the style, not turned into <br> or collapsed.
    assert ".chat-text { white-space: pre-wrap;" in html


def test_the_page_and_selection_a_message_was_asked_about(admin_client, alice):
    thread = make_thread(alice, "thr_ctx")
    question = user_says(thread, "ctx_q", "What does this mean?")
    models.ThreadItem.objects.filter(pk=question.pk).update(
        page={
            "url": "https://docs.example.com/guide",
            "title": "The <b>guide</b>",
            "selection": "  indented\n    selection",
        }
    )
    answer = assistant_says(thread, "ctx_a", "It means…")

    html = admin_client.get(page("thr_ctx")).content.decode()

    asked = item_html(html, "ctx_q")
    assert 'href="https://docs.example.com/guide"' in asked
    assert "The &lt;b&gt;guide&lt;/b&gt;" in asked
    assert '<blockquote class="chat-selection">  indented\n    selection</blockquote>' in asked
    assert "Asked from" not in item_html(html, "ctx_a")
    assert answer.page == {}


def test_a_javascript_page_url_is_not_a_link(admin_client, alice):
    thread = make_thread(alice, "thr_js")
    question = user_says(thread, "js_q", "Hi")
    models.ThreadItem.objects.filter(pk=question.pk).update(
        page={"url": "javascript:alert(1)", "title": "Evil"}
    )
    html = admin_client.get(page("thr_js")).content.decode()
    assert "javascript:alert" not in html and "Evil" in html


@pytest.mark.django_db(transaction=True)
async def test_the_store_keeps_the_page_context_with_the_users_message(alice):
    from asgiref.sync import sync_to_async
    from chatkit.types import InferenceOptions, UserMessageItem, UserMessageTextContent
    from django.utils import timezone

    thread = await sync_to_async(make_thread)(alice, "thr_store")
    context = RequestContext(
        user=alice,
        page=PageContext(url="https://site.example/a", title="A page", selection="chosen"),
    )
    message = UserMessageItem(
        id="store_q",
        thread_id=thread.id,
        created_at=timezone.now(),
        content=[UserMessageTextContent(text="Q")],
        inference_options=InferenceOptions(),
    )
    await DjangoStore().add_thread_item(thread.id, message, context)

    stored = await models.ThreadItem.objects.aget(item_id="store_q")
    assert stored.page == {
        "url": "https://site.example/a",
        "title": "A page",
        "selection": "chosen",
    }


def test_images_are_thumbnails_and_a_failed_upload_says_so(admin_client, alice):
    thread = make_thread(alice, "thr_img")
    image = add_upload(alice, "att_img", thread=thread, content=b"\x89PNG\r\n\x1a\n")
    models.Attachment.objects.filter(pk=image.pk).update(mime_type="image/png", name="cat.png")
    models.Attachment.objects.create(
        id="att_lost",
        owner=alice,
        thread=thread,
        name="lost.pdf",
        mime_type="application/pdf",
        data={},
    )
    user_says(
        thread,
        "img_q",
        "Look",
        attachments=[
            ImageAttachment(
                id="att_img",
                name="cat.png",
                mime_type="image/png",
                preview_url="https://testserver/chatkit/attachments/att_img/",
            ),
            FileAttachment(id="att_lost", name="lost.pdf", mime_type="application/pdf"),
        ],
    )

    html = admin_client.get(page("thr_img")).content.decode()

    message = item_html(html, "img_q")
    assert '<img class="chat-thumb" src="/chatkit/attachments/att_img/" alt="cat.png"' in message
    lost = message[message.index("lost.pdf") :]
    assert "upload failed" in lost
    assert "Waiting for upload" not in html and "waiting for upload" not in html
    assert html.count("upload failed") == 2  # in the message and in the thread's list


def test_icons_need_no_emoji_font(admin_client, alice):
    thread = make_thread(alice, "thr_icons")
    user_says(
        thread,
        "icons_q",
        "File",
        attachments=[FileAttachment(id="att_f", name="f.txt", mime_type="text/plain")],
    )
    answer = assistant_says(thread, "icons_a", "Ok")
    models.Feedback.objects.create(item=answer, user=alice, kind="positive")

    html = admin_client.get(page("thr_icons")).content.decode()

    transcript = html[html.index("chat-transcript") :]
    assert not re.search("[\U0001f300-\U0001faff]", transcript)
    assert not re.search(r"&#1[23]\d{4};", transcript)
    assert 'class="chat-icon chat-icon-up"' in transcript
    assert 'class="chat-icon chat-icon-clip"' in transcript
