"""Conversations built straight in the database, the way the store would write them."""

import importlib
import uuid
from datetime import UTC, datetime, timedelta

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomSummary,
    EndOfTurnItem,
    FileAttachment,
    GeneratedImage,
    GeneratedImageItem,
    HiddenContextItem,
    InferenceOptions,
    SDKHiddenContextItem,
    SearchTask,
    StructuredInputAnswer,
    StructuredInputFreeform,
    StructuredInputItem,
    TaskItem,
    ThoughtTask,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)
from chatkit.widgets import Card, Text
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile

from chat import models
from chat.chatkit.store import item_fields

T0 = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
PASSWORD = "correct-horse-battery"  # every test user's
REVIEWERS_MIGRATION = importlib.import_module("chat.migrations.0002_conversation_reviewers_group")
JUDGES_MIGRATION = importlib.import_module("chat.migrations.0009_review_permission")
TURNS_MIGRATION = importlib.import_module("chat.migrations.0012_turn_usage_required")


def reviewers_group() -> Group:
    """The "Conversation reviewers" group, made by the data migrations' own functions
    (transactional tests elsewhere may have flushed the migrated one)."""
    REVIEWERS_MIGRATION.create_reviewer_group(django_apps, None)
    JUDGES_MIGRATION.grant_to_reviewers(django_apps, None)
    TURNS_MIGRATION.reviewers_read_turns(django_apps, None)
    return Group.objects.get(name="Conversation reviewers")


def make_thread(owner, thread_id: str, title: str = "", minutes: int = 0, **fields):
    created = T0 + timedelta(minutes=minutes)
    return models.Thread.objects.create(
        id=thread_id, owner=owner, title=title, created_at=created, updated_at=created, **fields
    )


def add(thread: models.Thread, item) -> models.ThreadItem:
    """Store an SDK item the way the store does."""
    return models.ThreadItem.objects.create(thread=thread, item_id=item.id, **item_fields(item))


def user_says(thread, item_id: str, text: str, second: int = 1, **extra) -> models.ThreadItem:
    return add(
        thread,
        UserMessageItem(
            id=item_id,
            thread_id=thread.id,
            created_at=T0 + timedelta(seconds=second),
            content=[UserMessageTextContent(text=text)],
            inference_options=InferenceOptions(),
            **extra,
        ),
    )


def assistant_says(thread, item_id: str, text: str, second: int = 2) -> models.ThreadItem:
    return add(
        thread,
        AssistantMessageItem(
            id=item_id,
            thread_id=thread.id,
            created_at=T0 + timedelta(seconds=second),
            content=[AssistantMessageContent(text=text)],
        ),
    )


def add_upload(owner, attachment_id: str, thread=None, content: bytes = b"hello"):
    """An uploaded text attachment with its file in storage."""
    row = models.Attachment.objects.create(
        id=attachment_id,
        owner=owner,
        thread=thread,
        name=f"{attachment_id}.txt",
        mime_type="text/plain",
        size=len(content),
        data={},
        upload_state="uploaded",
    )
    row.file.save(f"{attachment_id}.txt", ContentFile(content), save=True)
    return row


# The item types of `every_item_type`, in the order its items were written.
EVERY_ITEM_TYPE = (
    "user_message",
    "assistant_message",
    "client_tool_call",
    "widget",
    "generated_image",
    "structured_input",
    "workflow",
    "task",
    "hidden_context_item",
    "sdk_hidden_context",
    "end_of_turn",
)


def every_item_type(owner, thread_id: str, title: str = "", minutes: int = 0, **fields):
    """A thread with one item of every ThreadItem type, a second apart in EVERY_ITEM_TYPE
    order, each with the id f"{thread_id}_{type}".

    The question quotes "cheap hotels" and carries an uploaded attachment,
    f"atc_{thread_id}" (a 5-byte text file); the answer has negative feedback from the
    owner. Tests assert on the texts below.
    """
    thread = make_thread(owner, thread_id, title, minutes, **fields)
    upload = add_upload(owner, f"atc_{thread_id}", thread=thread)

    def slot(item_type: str) -> dict:
        second = EVERY_ITEM_TYPE.index(item_type) + 1
        return {
            "id": f"{thread_id}_{item_type}",
            "thread_id": thread.id,
            "created_at": T0 + timedelta(seconds=second),
        }

    items = [
        UserMessageItem(
            **slot("user_message"),
            content=[UserMessageTextContent(text='Where should I "stay"?\nSecond line')],
            quoted_text="cheap hotels",
            attachments=[
                FileAttachment(id=upload.id, name=upload.name, mime_type=upload.mime_type)
            ],
            inference_options=InferenceOptions(),
        ),
        AssistantMessageItem(
            **slot("assistant_message"),
            content=[AssistantMessageContent(text="Try Alfama. ```code``` inside")],
        ),
        ClientToolCallItem(
            **slot("client_tool_call"),
            call_id="call_1",
            name="get_weather",
            arguments={"city": "Lisbon"},
            output={"celsius": 21},
            status="completed",
        ),
        WidgetItem(
            **slot("widget"),
            widget=Card(children=[Text(value="Card body")]),
            copy_text="Widget summary",
        ),
        GeneratedImageItem(
            **slot("generated_image"),
            image=GeneratedImage(id="img_1", url="https://images.example/lisbon.png"),
        ),
        StructuredInputItem(
            **slot("structured_input"),
            status="answered",
            inputs=[
                StructuredInputFreeform(
                    id="day", question="Which day?", answer=StructuredInputAnswer(values=["Sunday"])
                )
            ],
        ),
        WorkflowItem(
            **slot("workflow"),
            workflow=Workflow(
                type="reasoning",
                summary=CustomSummary(title="Thinking it over"),
                tasks=[ThoughtTask(title="Plan", content="Compare districts")],
            ),
        ),
        TaskItem(
            **slot("task"), task=SearchTask(title_query="weather", queries=["lisbon weather"])
        ),
        HiddenContextItem(**slot("hidden_context_item"), content={"page": "/trips/"}),
        SDKHiddenContextItem(**slot("sdk_hidden_context"), content="internal bookkeeping"),
        EndOfTurnItem(**slot("end_of_turn")),
    ]
    rows = {item.type: add(thread, item) for item in items}
    models.Feedback.objects.create(item=rows["assistant_message"], user=owner, kind="negative")
    return thread


def answer(user, thread=None, *, tokens=(100, 50), model="", first_ms=None, duration_ms=None,
           finished_at=None, **fields) -> models.Turn:
    """An answered turn, as a finished turn records it (what quotas and insights count)."""
    from django.utils import timezone

    finished = finished_at or timezone.now()
    return models.Turn.objects.create(
        id=f"turn_{uuid.uuid4().hex}",
        user=user,
        thread=thread,
        kind="threads.add_user_message",
        state=models.Turn.State.COMPLETE,
        started_at=finished - timedelta(seconds=2),
        lease_expires_at=finished,
        finished_at=finished,
        answered=True,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        model=model,
        first_token_ms=first_ms,
        duration_ms=duration_ms,
        **fields,
    )
