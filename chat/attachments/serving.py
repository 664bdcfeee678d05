"""Serving an attachment's bytes: response headers and chunked, off-the-loop reads."""

import logging
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils.http import content_disposition_header

from chat import models
from chat.attachments.policy import INLINE
from chat.attachments.signing import DOWNLOAD, url_max_age

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024


def download_headers(row: models.Attachment, by_link: bool) -> dict[str, str]:
    """How the bytes are served: never sniffed, privately cached, inline only for the
    types whose signature was checked (images, PDFs), a download for everything else."""
    inline = row.mime_type in INLINE
    headers = {
        "Content-Type": row.mime_type,
        "Content-Length": str(row.size),
        "Content-Disposition": content_disposition_header(not inline, row.name),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": f"private, max-age={url_max_age(DOWNLOAD)}",
    }
    if row.mime_type != "application/pdf":
        # Nothing served here may run script, even if a browser renders it as a document.
        # (Chromium's PDF viewer does not work in a sandbox, and PDFs are checked.)
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if by_link:
        # The link itself is the credential (no cookies), so the widget's frame on another
        # origin may read it.
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return headers


async def open_stored(row: models.Attachment) -> File | None:
    """The stored file opened for reading, or None if storage no longer has it."""
    try:
        return await sync_to_async(default_storage.open)(row.file.name, "rb")
    except OSError:
        logger.warning("Stored file of attachment %s is missing", row.pk)
        return None


async def file_chunks(handle: File) -> AsyncIterator[bytes]:
    """The file's bytes, read in a worker thread so the event loop never blocks on disk."""
    try:
        while chunk := await sync_to_async(handle.read)(CHUNK_BYTES):
            yield chunk
    finally:
        await sync_to_async(handle.close)()
