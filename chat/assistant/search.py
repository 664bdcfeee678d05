"""Read-only queries over conversations, always scoped to one user."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.models import ThreadItem
from chatsite import db


@dataclass(frozen=True)
class ConversationMatch:
    thread_id: str
    thread_title: str
    excerpt: str
    created_at: datetime


def excerpt_around(text: str, query: str, width: int = 80) -> str:
    """A short window of `text` around the first occurrence of `query`."""
    flat = " ".join(text.split())
    at = flat.lower().find(query.lower())
    if at < 0:
        return flat[: width * 2]
    start, end = max(0, at - width), at + len(query) + width
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")


@db.pooled
def search_conversations(
    user_id: Any, query: str, *, exclude_thread_id: str | None = None, limit: int = 5
) -> list[ConversationMatch]:
    """The user's own messages whose text or thread title contains `query`, newest first."""
    query = query.strip()
    if not query:
        return []
    rows = (
        ThreadItem.objects.filter(thread__owner_id=user_id)
        .exclude(type__in=ThreadItem.INTERNAL_TYPES)
        .filter(text__icontains=query)
        .select_related("thread")
        .order_by("-created_at", "-id")
    )
    if exclude_thread_id:
        rows = rows.exclude(thread_id=exclude_thread_id)
    return [
        ConversationMatch(
            thread_id=row.thread_id,
            thread_title=row.thread.title or "Untitled conversation",
            excerpt=excerpt_around(row.text, query),
            created_at=row.created_at,
        )
        for row in rows[:limit]
    ]
