"""Signed, expiring URLs for one attachment: its preview/download link and its upload URL.

`<img src>` and links cannot send a Bearer header, so these URLs carry a token bound to
the attachment, its owner and a purpose. Timestamps are rounded to a window so the same
attachment signed twice within minutes gets the same URL (the browser's cache keeps
working), and the store re-signs previews on every load so old threads keep working
previews without long-lived signatures.
"""

import time
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.urls import reverse

from chat.conf import app_settings

DOWNLOAD = "chat.attachments.download"
UPLOAD = "chat.attachments.upload"
SIGNING_WINDOW = 300


def current_time() -> float:
    return time.time()


class WindowedSigner(signing.TimestampSigner):
    """Timestamps rounded down to a window, so the same attachment signed twice within a
    few minutes gets the same URL and the browser's cache keeps working across reloads."""

    def __init__(self, *, salt: str, window: int):
        super().__init__(salt=salt)
        self.window = max(1, window)

    def timestamp(self) -> str:
        now = int(current_time())
        return signing.b62_encode(now - now % self.window)


def url_max_age(purpose: str) -> int:
    if purpose == UPLOAD:
        return app_settings.ATTACHMENT_UPLOAD_URL_MAX_AGE
    return app_settings.ATTACHMENT_URL_MAX_AGE


def signer_for(purpose: str) -> WindowedSigner:
    return WindowedSigner(salt=purpose, window=min(SIGNING_WINDOW, url_max_age(purpose)))


def sign_token(purpose: str, attachment_id: str, owner_id: Any) -> str:
    """A token for one attachment, one owner and one purpose (download or upload)."""
    signed = signer_for(purpose).sign(f"{attachment_id}:{owner_id}")
    return signed[len(attachment_id) + 1 :]


def token_owner(purpose: str, attachment_id: str, token: str) -> str | None:
    """The owner id a valid, unexpired token for this attachment names, else None.

    A URL minted within the signing window is valid for at least `max_age` seconds.
    """
    signer = signer_for(purpose)
    max_age = url_max_age(purpose) + signer.window
    try:
        value = signer.unsign(f"{attachment_id}:{token}", max_age=max_age)
    except signing.BadSignature:
        return None
    prefix = f"{attachment_id}:"
    return value[len(prefix) :] if value.startswith(prefix) else None


def download_url(attachment_id: str, owner_id: Any, base_url: str) -> str:
    """An absolute, signed, expiring link to the attachment's bytes."""
    path = reverse("chatkit-attachment", args=[attachment_id])
    query = urlencode({"token": sign_token(DOWNLOAD, attachment_id, owner_id)})
    return f"{base_url}{path}?{query}"


def upload_url(attachment_id: str, owner_id: Any, base_url: str) -> str:
    path = reverse("chatkit-attachment-upload", args=[attachment_id])
    query = urlencode({"token": sign_token(UPLOAD, attachment_id, owner_id)})
    return f"{base_url}{path}?{query}"
