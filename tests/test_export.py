"""chat.review.export and `manage.py export_threads`: what a user's data export contains, in
JSON Lines and Markdown, that it holds exactly that user's threads, that it is written as
it is read, and how the shared renderer reads every kind of stored item."""

import io
import json
from typing import get_args

import pytest
from chatkit.types import ThreadItem
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import models
from chat.review import export, items
from tests.factories import EVERY_ITEM_TYPE, every_item_type, make_thread, user_says

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice, bob):
    """Two threads of alice's (the first with an item of every type, an attachment and
    feedback), and one of bob's."""
    every_item_type(alice, "thr_a1", "Trip to Lisbon", input_tokens=10, output_tokens=20)
    second = make_thread(alice, "thr_a2", "Recipes", minutes=10)
    user_says(second, "msg_u2", "Pancakes?", 1)
    other = make_thread(bob, "thr_b1", "Bob's secret", minutes=5)
    user_says(other, "msg_u3", "bob private text", 1)


def test_the_sample_conversation_has_every_item_type_the_sdk_stores():
    sdk_types = {
        member.model_fields["type"].default for member in get_args(get_args(ThreadItem)[0])
    }
    assert set(EVERY_ITEM_TYPE) == sdk_types


def run_export(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_threads", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# --- export_threads ----------------------------------------------------------------------


def test_jsonl_export_holds_exactly_the_users_threads_with_items_in_order(conversation):
    out, err = run_export("--user", "alice")

    lines = out.splitlines()
    threads = [json.loads(line) for line in lines]
    assert [thread["id"] for thread in threads] == ["thr_a1", "thr_a2"]
    assert "bob private text" not in out
    first = threads[0]
    assert first["title"] == "Trip to Lisbon"
    assert first["owner"]["username"] == "alice"
    assert (first["input_tokens"], first["output_tokens"]) == (10, 20)
    assert [item["type"] for item in first["items"]] == list(EVERY_ITEM_TYPE)
    assert [item["id"] for item in first["items"]] == [f"thr_a1_{t}" for t in EVERY_ITEM_TYPE]
    question = first["items"][0]
    assert question["text"] == '> cheap hotels\nWhere should I "stay"?\nSecond line'
    assert question["data"]["content"][0]["text"] == 'Where should I "stay"?\nSecond line'
    feedback = first["items"][1]["feedback"]
    assert [(entry["user"], entry["kind"]) for entry in feedback] == [("alice", "negative")]
    assert all(not item["feedback"] for item in first["items"][2:])
    assert first["attachments"] == [
        {
            "id": "atc_thr_a1",
            "name": "atc_thr_a1.txt",
            "mime_type": "text/plain",
            "size": 5,
            "upload_state": "uploaded",
            "created_at": first["attachments"][0]["created_at"],
            "url": "/chatkit/attachments/atc_thr_a1/",
        }
    ]
    assert "Exported 2 threads of alice to standard output." in err


def test_markdown_export_reads_like_a_conversation(conversation):
    out, _ = run_export("--user", "alice", "--format", "markdown")

    assert "## Trip to Lisbon" in out
    assert "## Recipes" in out
    assert "Bob's secret" not in out
    assert "> cheap hotels" in out
    assert 'Where should I "stay"?\nSecond line' in out
    assert "### Assistant" in out and "Try Alfama." in out
    # Backticks in the text cannot close the fence around it.
    assert "`get_weather` (completed)" in out
    assert '"city": "Lisbon"' in out
    assert "[atc_thr_a1.txt](/chatkit/attachments/atc_thr_a1/) (text/plain)" in out
    assert "_Feedback: negative from alice_" in out
    assert "### Widget" in out and "Widget summary" in out
    assert "<https://images.example/lisbon.png>" in out
    assert "Which day? — Sunday" in out
    assert "Thinking it over" in out and "- **Plan**: Compare districts" in out
    assert "- **weather**: lisbon weather" in out
    # Internal items and end-of-turn markers are not part of the readable conversation.
    assert "internal bookkeeping" not in out
    assert "/trips/" not in out
    assert "End of turn" not in out
    assert out.index("Where should I") < out.index("Try Alfama") < out.index("Pancakes?")


@pytest.fixture
def export_dir(tmp_path):
    """A folder of its own for the export (tmp_path also holds the uploads)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def test_output_file_is_written_and_replaced_whole(conversation, export_dir):
    target = export_dir / "alice.jsonl"
    target.write_text("old content\n")

    out, err = run_export("--user", "alice", "--output", str(target))

    assert out == ""
    lines = target.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["thr_a1", "thr_a2"]
    assert f"to {target}" in err
    assert [path.name for path in export_dir.iterdir()] == ["alice.jsonl"]


def test_a_failed_export_leaves_no_partial_file(conversation, export_dir, monkeypatch):
    target = export_dir / "alice.jsonl"

    def broken(thread):
        yield '{"id": "partial'
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(export, "thread_json_chunks", broken)
    with pytest.raises(RuntimeError):
        run_export("--user", "alice", "--output", str(target))
    assert list(export_dir.iterdir()) == []


def test_a_user_without_threads_gets_an_empty_export(bob, alice):
    out, err = run_export("--user", "alice")
    assert out == ""
    assert "Exported 0 threads" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody"], "Unknown user 'nobody'"),
        (["--user", "alice", "--format", "pdf"], "invalid choice: 'pdf'"),
        ([], "the following arguments are required: --user"),
    ],
)
def test_bad_arguments_are_named(alice, args, message):
    with pytest.raises(CommandError, match=message):
        run_export(*args)


def test_output_into_a_missing_directory_is_refused(alice, tmp_path):
    with pytest.raises(CommandError, match="is not a directory"):
        run_export("--user", "alice", "--output", str(tmp_path / "nowhere" / "x.jsonl"))


def test_export_writes_each_thread_before_reading_the_next(alice):
    """Streaming: output is produced as rows arrive, not after everything is loaded."""
    for index in range(6):
        thread = make_thread(alice, f"thr_{index}", f"T{index}", minutes=index)
        user_says(thread, f"msg_{index}", f"text {index}", 1)

    class Recorder(io.StringIO):
        def __init__(self, queries):
            super().__init__()
            self.queries = queries
            self.seen_at_write: list[int] = []

        def write(self, text):
            self.seen_at_write.append(len(self.queries.captured_queries))
            return super().write(text)

    with CaptureQueriesContext(connection) as queries:
        out = Recorder(queries)
        export.write_export(models.Thread.objects.filter(owner=alice), "jsonl", out)
    total = len(queries.captured_queries)

    assert len(out.getvalue().splitlines()) == 6
    # The first thread went out after a handful of queries, well before the last ones ran,
    # and the number of queries per thread does not depend on how many threads there are.
    assert out.seen_at_write[0] <= 4
    assert out.seen_at_write[0] < total / 2
    assert total <= 1 + 3 * 6


# --- the shared renderer --------------------------------------------------------------------


def test_json_document_is_valid_json_with_exactly_the_given_threads(conversation):
    buffer = io.StringIO()
    export.write_export(models.Thread.objects.filter(pk__in=["thr_a2", "thr_b1"]), "json", buffer)

    document = json.loads(buffer.getvalue())
    assert [thread["id"] for thread in document["threads"]] == ["thr_b1", "thr_a2"]
    assert document["exported_at"]


def test_describe_item_reads_each_kind_of_item():
    tool = items.describe_item(
        "client_tool_call", {"name": "lookup", "arguments": {"q": 1}, "status": "pending"}
    )
    assert (tool.role, tool.tool.name, tool.tool.status) == ("tool", "lookup", "pending")
    assert json.loads(tool.tool.arguments) == {"q": 1}

    widget = items.describe_item("widget", {"copy_text": "Card text", "widget": {}})
    assert (widget.label, widget.text) == ("Widget", "Card text")

    workflow = items.describe_item(
        "workflow",
        {
            "workflow": {
                "type": "reasoning",
                "summary": {"title": "Thinking"},
                "tasks": [
                    {"type": "thought", "title": "Plan", "content": "Look it up"},
                    {"type": "web_search", "title_query": "weather", "queries": ["lisbon weather"]},
                ],
            }
        },
    )
    assert workflow.text == "Thinking"
    assert [(t.title, t.content) for t in workflow.tasks] == [
        ("Plan", "Look it up"),
        ("weather", "lisbon weather"),
    ]

    hidden = items.describe_item("hidden_context_item", {"content": {"k": "v"}})
    assert hidden.internal and '"k": "v"' in hidden.text

    question = items.describe_item(
        "structured_input",
        {
            "inputs": [
                {
                    "type": "freeform",
                    "id": "q1",
                    "question": "Name?",
                    "answer": {"values": ["Ann"]},
                },
                {"type": "freeform", "id": "q2", "question": "Age?", "answer": {"skipped": True}},
            ]
        },
    )
    assert question.text == "Name? — Ann\nAge? — (skipped)"


def test_only_http_links_are_kept_from_stored_urls():
    safe = items.describe_item("generated_image", {"image": {"id": "i", "url": "https://x/y.png"}})
    assert safe.link == "https://x/y.png"
    unsafe = items.describe_item(
        "generated_image", {"image": {"id": "i", "url": "javascript:alert(1)"}}
    )
    assert unsafe.link == ""


def test_malformed_rows_render_without_crashing():
    for item_type, data in [
        ("user_message", {"content": "not a list", "attachments": [None, {"name": "x"}]}),
        ("assistant_message", None),
        ("client_tool_call", {}),
        ("workflow", {"workflow": "oops"}),
        ("task", {"task": None}),
        ("something_new", {"text": "?"}),
    ]:
        view = items.describe_item(item_type, data, "fallback")
        assert view.type == item_type
    assert items.describe_item("something_new", {}, "fallback").text == "fallback"


def test_code_fences_outgrow_backticks_in_the_text():
    assert export.fenced("a ``` b", "json") == "````json\na ``` b\n````"
    assert export.fenced("plain") == "```\nplain\n```"
