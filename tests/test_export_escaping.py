"""Markdown exports (`export_threads --format markdown`, the admin's export) keep what users
and the model wrote as text: no image, link or HTML of theirs becomes markup."""

import io
import re

import pytest
from django.core.management import call_command

from chat.review.export import one_line
from tests.factories import make_thread, user_says

pytestmark = pytest.mark.django_db

HOSTILE = (
    "![pixel](https://tracker.example/p.png) <img src=x onerror=alert(1)> "
    "[click](javascript:alert(2))\n## Fake heading\n```\nbreak out\n"
)


@pytest.fixture
def hostile(alice):
    thread = make_thread(alice, "thr_h1", "<script>alert(3)</script> ![t](https://t.example/x)")
    user_says(thread, "msg_h1", HOSTILE, 1)
    return thread


def markdown_export() -> str:
    out = io.StringIO()
    call_command("export_threads", "--user", "alice", "--format", "markdown", stdout=out)
    return out.getvalue()


def outside_fences(text: str) -> str:
    """The document without its fenced blocks (whose fences are 3 or more backticks)."""
    return re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?\n\1$", "", text)


def assert_inert(text: str) -> None:
    prose = outside_fences(text)
    assert "<script" not in prose and "<img" not in prose and "<b>" not in prose
    assert "](javascript:" not in prose and "![" not in prose.replace("\\![", "")
    assert "\n## Fake heading" not in prose


def test_the_command_fences_messages_and_escapes_titles(hostile):
    text = markdown_export()

    assert_inert(text)
    assert HOSTILE.rstrip("\n") in text  # the message itself, whole, inside its fence


def test_file_names_and_titles_are_escaped():
    assert one_line("[evil](javascript:alert(4)) <b>.txt") == (
        "\\[evil\\](javascript:alert(4)) &lt;b&gt;.txt"
    )


def test_the_admin_export_is_escaped_too(admin_client, hostile):
    response = admin_client.post(
        "/admin/chat/thread/",
        {"action": "export_markdown", "_selected_action": ["thr_h1"]},
    )

    assert response.status_code == 200
    assert_inert(response.content.decode())
