"""Stored files: reading a sent attachment's bytes back for the model, and removing files
whose rows are gone (thread deletion, purges)."""

import logging

from chatkit.types import Attachment
from django.core.files.storage import default_storage

from chat import models
from chatsite import db

logger = logging.getLogger(__name__)


def read_stored_sync(attachment_id: str, thread_id: str, limit: int) -> tuple[bytes, int] | None:
    row = (
        models.Attachment.objects.filter(
            pk=attachment_id,
            thread_id=thread_id,
            upload_state=models.Attachment.UploadState.UPLOADED,
        )
        .only("file", "size")
        .first()
    )
    if row is None or not row.file:
        return None
    try:
        with default_storage.open(row.file.name, "rb") as handle:
            return handle.read(limit), row.size
    except OSError:
        logger.warning("Stored file of attachment %s cannot be read", attachment_id)
        return None


async def read_stored(attachment: Attachment, limit: int) -> tuple[bytes, int] | None:
    """Up to `limit` bytes of a sent attachment and its full size; None if it is gone.

    Scoped to the thread the message belongs to (the store already proved that thread is
    the user's). Storage reads block, so they run in a worker thread.
    """
    if not attachment.thread_id:
        return None
    return await db.run(read_stored_sync, attachment.id, attachment.thread_id, limit)


def remove_files(names: list[str]) -> int:
    """Delete stored files whose rows are already gone; returns how many could not be.

    A file left behind is harmless (no row points at it); a row whose file is gone is not,
    which is why this only ever runs after the rows are deleted (and committed).
    """
    failures = 0
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # any storage backend error: count it, keep going
            logger.exception("Could not delete stored file %s", name)
            failures += 1
    return failures
