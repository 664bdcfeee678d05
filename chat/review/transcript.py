"""A thread's transcript as the admin shows it: items, their feedback, and whether the
thread is longer than the page."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.models import Attachment, Thread, ThreadItem
from chat.review.items import ItemView, describe_item, safe_link, thread_feedback

# Items shown on a thread's admin page; longer threads say so and point at the export.
TRANSCRIPT_LIMIT = 500


@dataclass
class TranscriptEntry:
    item_id: str
    created_at: datetime
    view: ItemView
    feedback: list[dict[str, Any]]
    # The page a user message was asked from: {"url", "title", "selection"} (url only if
    # it is an http(s) link); empty when the client sent none.
    page: dict[str, str]


@dataclass
class Transcript:
    entries: list[TranscriptEntry]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.entries)


def transcript(thread: Thread, limit: int | None = None) -> Transcript:
    """The first `limit` (default TRANSCRIPT_LIMIT) items of a thread as the admin shows
    them: four queries at most, however long the thread."""
    limit = TRANSCRIPT_LIMIT if limit is None else limit
    rows = list(ThreadItem.objects.filter(thread=thread).order_by("created_at", "pk")[: limit + 1])
    total = len(rows) if len(rows) <= limit else ThreadItem.objects.filter(thread=thread).count()
    feedback = thread_feedback(thread)
    uploaded = set(
        Attachment.objects.filter(thread=thread, upload_state=Attachment.UploadState.UPLOADED)
        .exclude(file="")
        .values_list("pk", flat=True)
    )
    entries = []
    for row in rows[:limit]:
        view = describe_item(row.type, row.data, row.text)
        for attachment in view.attachments:
            # Sent with the message but never stored (or since removed): it failed.
            attachment.state = "uploaded" if attachment.id in uploaded else "failed"
        entries.append(
            TranscriptEntry(
                item_id=row.item_id,
                created_at=row.created_at,
                view=view,
                feedback=feedback.get(row.pk, []),
                page=page_context(row.page),
            )
        )
    return Transcript(entries=entries, total=total)


def page_context(page: Any) -> dict[str, str]:
    """A stored page context as the transcript shows it; a non-http(s) URL is dropped."""
    page = page if isinstance(page, dict) else {}
    values = {name: page.get(name) for name in ("url", "title", "selection")}
    values = {name: value if isinstance(value, str) else "" for name, value in values.items()}
    values["url"] = safe_link(values["url"])
    return values if any(values.values()) else {}
