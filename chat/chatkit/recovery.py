"""Closing turns whose worker died: their lease ran out while they were still running.

The partial answer is already in the thread (checkpoints); what is left is to say so: the
turn is marked interrupted, the model is told not to continue it (the same hidden note the
SDK leaves when a user stops an answer), and the user's tabs hear that it finished. The
thread's turn lease expired with the worker, so the thread takes new messages again.
"""

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime

from chatkit.store import default_generate_id
from chatkit.types import SDKHiddenContextItem
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from chat import models
from chat.chatkit import broadcast
from chat.chatkit.store import item_fields
from chat.chatkit.tasks import ProcessTask
from chat.conf import app_settings
from chatsite import db

logger = logging.getLogger(__name__)

INTERRUPTED_NOTE = (
    "The previous answer was interrupted before it finished. Do not continue it; answer the "
    "user's next message."
)


def close_turn_rows(turns: QuerySet, now: datetime) -> list[models.Turn]:
    """Mark `turns` interrupted, each with a hidden note in its thread (if the thread was
    not deleted meanwhile); returns the turns this call closed (another worker may close
    some first)."""
    closed = []
    for turn in turns:
        claimed = models.Turn.objects.filter(pk=turn.pk, state=models.Turn.State.RUNNING).update(
            state=models.Turn.State.INTERRUPTED, finished_at=now
        )
        if not claimed:
            continue
        closed.append(turn)
        logger.warning(
            "Turn %s in thread %s was interrupted (worker %s lost)",
            turn.pk,
            turn.thread_id,
            turn.worker,
        )
        if turn.thread_id is not None:
            add_note(turn.thread_id, now)
    return closed


def add_note(thread_id: str, now: datetime) -> None:
    """The hidden note that tells the model not to continue the cut answer; none when the
    thread was deleted meanwhile (its turns outlive it, see `chat.models.Turn`)."""
    note = SDKHiddenContextItem(
        id=f"{default_generate_id('sdk_hidden_context')}{uuid.uuid4().hex[:16]}",
        thread_id=thread_id,
        created_at=now,
        content=INTERRUPTED_NOTE,
    )
    with contextlib.suppress(IntegrityError), transaction.atomic():
        models.ThreadItem.objects.create(thread_id=thread_id, item_id=note.id, **item_fields(note))


async def close_turns(turns: QuerySet, now: datetime) -> int:
    """Mark `turns` interrupted, each with a note for the model, and tell their users."""
    closed = await db.run(close_turn_rows, turns, now)
    for turn in closed:
        await broadcast.notify_user(
            turn.user_id,
            {
                "type": "turn.finished",
                "thread_id": turn.thread_id,
                "turn_id": turn.pk,
                "state": str(models.Turn.State.INTERRUPTED),
            },
        )
    return len(closed)


async def close_lost_turns(now: datetime | None = None) -> int:
    """Mark every running turn whose lease expired as interrupted; returns how many."""
    now = now or timezone.now()
    lost = models.Turn.objects.filter(state=models.Turn.State.RUNNING, lease_expires_at__lt=now)
    return await close_turns(lost, now)


async def close_turns_left_in(thread_id: str, new_turn_id: str) -> int:
    """Close the turns of a thread still marked running when a new turn takes it over.

    The new turn holds the thread's turn lease, so none of them is alive (a live turn's
    heartbeat keeps that lease). Closed now rather than at the sweeper's next pass, the note
    comes before the new message, where the model reads it; the sweeper would put it after.
    """
    left = models.Turn.objects.filter(
        thread_id=thread_id, state=models.Turn.State.RUNNING
    ).exclude(pk=new_turn_id)
    return await close_turns(left, timezone.now())


async def sweep_forever() -> None:
    """Close lost turns now (a worker starting up), then every two lease periods."""
    while True:
        try:
            await close_lost_turns()
        except Exception:
            logger.warning("Could not close lost turns; retrying", exc_info=True)
        await asyncio.sleep(2 * app_settings.TURN_LEASE_SECONDS)


sweeper = ProcessTask(sweep_forever)
