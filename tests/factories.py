"""Conversations built straight in the database, the way the store would write them."""

from datetime import UTC, datetime, timedelta

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    UserMessageItem,
    UserMessageTextContent,
)
from django.core.files.base import ContentFile

from chat import models
from chat.chatkit.store import item_fields

T0 = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


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
