"""What the site's own clients need beside the ChatKit protocol: the thread list searched and
ordered by last activity, each answer's state for the user (their vote, whether it was cut
short), undoing a vote, and editing a sent message before it is answered again.

Selectors and services over plain values (a user id, ids, text), every query scoped to the
user: another user's thread or item is indistinguishable from a missing one
(`chatkit.store.NotFoundError`). The views in `chat.views` are thin wrappers around these.
"""

from datetime import datetime
from typing import Any

from chatkit.store import NotFoundError
from chatkit.types import UserMessageItem, UserMessageTextContent
from django.db.models import Exists, OuterRef, Q
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from chat import models
from chat.chatkit.store import item_fields
from chat.errors import BadRequest, ChatError
from chatsite import db

SEARCH_PAGE_MAX = 50
# Turn states that leave their answer cut short, as the client names them.
CUT_STATES = {models.Turn.State.STOPPED: "stopped", models.Turn.State.INTERRUPTED: "interrupted"}


def encode_cursor(thread: models.Thread) -> str:
    """A keyset cursor: the last row's last activity and id (ids never contain '|')."""
    return f"{thread.updated_at.isoformat()}|{thread.pk}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    stamp, _, thread_id = cursor.partition("|")
    when = parse_datetime(stamp) if stamp else None
    if when is None or not thread_id:
        raise BadRequest("The cursor 'after' is malformed.")
    return when, thread_id


def excerpt(text: str, query: str, width: int = 60) -> str:
    """A window of `text` around the first match of `query`, on one line."""
    flat = " ".join(text.split())
    at = flat.lower().find(query.lower())
    if at < 0:
        return ""
    start, end = max(0, at - width), at + len(query) + width
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")


@db.pooled
def search_threads(
    user_id: Any, query: str = "", *, after: str | None = None, limit: int = 20
) -> dict[str, Any]:
    """The user's threads, most recently active first, whose title or message text contains
    `query` (all of them when it is blank); a page of `limit` after the cursor `after`.

    Each thread comes with `updated_at` (its last activity, for grouping) and, when the
    match is in a message, an `excerpt` around it.
    """
    limit = max(1, min(limit, SEARCH_PAGE_MAX))
    query = query.strip()
    threads = models.Thread.objects.filter(owner_id=user_id)
    matching_items = models.ThreadItem.objects.filter(thread_id=OuterRef("pk")).exclude(
        type__in=models.ThreadItem.INTERNAL_TYPES
    )
    if query:
        in_text = matching_items.filter(text__icontains=query)
        threads = threads.filter(Q(title__icontains=query) | Exists(in_text))
    if after:
        when, thread_id = decode_cursor(after)
        threads = threads.filter(Q(updated_at__lt=when) | Q(updated_at=when, pk__lt=thread_id))
    rows = list(threads.order_by("-updated_at", "-pk")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    excerpts = message_excerpts(rows, query) if query else {}
    return {
        "data": [
            {
                "id": row.pk,
                "title": row.title,
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
                "excerpt": excerpts.get(row.pk, ""),
            }
            for row in rows
        ],
        "has_more": has_more,
        "after": encode_cursor(rows[-1]) if has_more else None,
    }


def message_excerpts(threads: list[models.Thread], query: str) -> dict[str, str]:
    """For threads whose title does not match, the newest message text that does."""
    wanted = [row.pk for row in threads if query.lower() not in row.title.lower()]
    found: dict[str, str] = {}
    if not wanted:
        return found
    rows = (
        models.ThreadItem.objects.filter(thread_id__in=wanted, text__icontains=query)
        .exclude(type__in=models.ThreadItem.INTERNAL_TYPES)
        .order_by("thread_id", "-created_at", "-id")
        .values_list("thread_id", "text")
    )
    for thread_id, text in rows:
        found.setdefault(thread_id, excerpt(text, query))
    return found


def own_thread(user_id: Any, thread_id: str) -> models.Thread:
    thread = models.Thread.objects.filter(owner_id=user_id, pk=thread_id).first()
    if thread is None:
        raise NotFoundError(f"Thread {thread_id} not found")
    return thread


@db.pooled
def item_states(user_id: Any, thread_id: str) -> dict[str, Any]:
    """What the user's client shows beside the thread's items after a reload: the user's
    own vote on each answer, and the answers a stop or a lost worker cut short (the last
    answer of each such turn)."""
    thread = own_thread(user_id, thread_id)
    feedback = dict(
        models.Feedback.objects.filter(user_id=user_id, item__thread=thread).values_list(
            "item__item_id", "kind"
        )
    )
    cut: dict[str, str] = {}
    turns = models.Turn.objects.filter(thread=thread, state__in=list(CUT_STATES)).order_by(
        "started_at"
    )
    for turn in turns:
        answers = models.ThreadItem.objects.filter(
            thread=thread, type="assistant_message", created_at__gte=turn.started_at
        )
        if turn.finished_at is not None:
            answers = answers.filter(created_at__lte=turn.finished_at)
        last = answers.order_by("-created_at", "-id").values_list("item_id", flat=True).first()
        if last:
            cut[last] = CUT_STATES[models.Turn.State(turn.state)]
    return {"feedback": feedback, "cut": cut}


@db.pooled
def clear_feedback(user_id: Any, thread_id: str, item_id: str) -> bool:
    """Undo the user's vote on one of their items; False when there was none."""
    own_thread(user_id, thread_id)
    deleted, _ = models.Feedback.objects.filter(
        user_id=user_id, item__thread_id=thread_id, item__item_id=item_id
    ).delete()
    return bool(deleted)


@db.pooled
def edit_user_message(user_id: Any, thread_id: str, item_id: str, text: str) -> dict[str, Any]:
    """Replace the text of one of the user's sent messages, keeping its attachments and
    quote; returns the item as JSON. The client then asks `threads.retry_after_item` for
    it, which replaces the answers after it. Refused while an answer is running."""
    text = text.strip()
    if not text:
        raise BadRequest(gettext("The message text is empty."))
    thread = own_thread(user_id, thread_id)
    row = models.ThreadItem.objects.filter(thread=thread, item_id=item_id).first()
    if row is None:
        raise NotFoundError(f"Item {item_id} not found")
    if row.type != "user_message":
        raise BadRequest(gettext("Only the user's own messages can be edited."))
    if models.Turn.objects.filter(thread=thread, state=models.Turn.State.RUNNING).exists():
        raise ChatError(
            gettext("An answer is running in this conversation; stop it first."), status=409
        )
    item = UserMessageItem.model_validate(row.data)
    item = item.model_copy(update={"content": [UserMessageTextContent(text=text)]})
    fields = item_fields(item)
    models.ThreadItem.objects.filter(pk=row.pk).update(data=fields["data"], text=fields["text"])
    return fields["data"]
