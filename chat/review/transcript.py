"""A thread's transcript as the admin shows it: items, their feedback, and whether the
thread is longer than the page."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.models import Thread, ThreadItem
from chat.review.items import ItemView, describe_item, thread_feedback

# Items shown on a thread's admin page; longer threads say so and point at the export.
TRANSCRIPT_LIMIT = 500


@dataclass
class TranscriptEntry:
    item_id: str
    created_at: datetime
    view: ItemView
    feedback: list[dict[str, Any]]


@dataclass
class Transcript:
    entries: list[TranscriptEntry]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.entries)


def transcript(thread: Thread, limit: int | None = None) -> Transcript:
    """The first `limit` (default TRANSCRIPT_LIMIT) items of a thread as the admin shows
    them: three queries at most, however long the thread."""
    limit = TRANSCRIPT_LIMIT if limit is None else limit
    rows = list(ThreadItem.objects.filter(thread=thread).order_by("created_at", "pk")[: limit + 1])
    total = len(rows) if len(rows) <= limit else ThreadItem.objects.filter(thread=thread).count()
    feedback = thread_feedback(thread)
    entries = [
        TranscriptEntry(
            item_id=row.item_id,
            created_at=row.created_at,
            view=describe_item(row.type, row.data, row.text),
            feedback=feedback.get(row.pk, []),
        )
        for row in rows[:limit]
    ]
    return Transcript(entries=entries, total=total)
