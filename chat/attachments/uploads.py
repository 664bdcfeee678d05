"""Storing uploaded bytes: a direct upload, or the second phase of a two-phase upload.

Both end in the same place, a `chat.models.Attachment` row whose file lives in Django's
default storage under a generated name (never the client's). Storage and the ORM block:
call these through `sync_to_async`.
"""

from typing import Any

from chatkit.types import Attachment
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext

from chat import models
from chat.attachments.policy import (
    check_content,
    display_name,
    new_attachment_id,
    normalise_type,
    storage_name,
)
from chat.attachments.store import attachment_adapter, chatkit_attachment, resigned
from chat.errors import AttachmentRejected


def save_file(row: models.Attachment, uploaded: UploadedFile) -> None:
    """Put the bytes in storage under a generated name (never the client's)."""
    row.file.save(storage_name(row.mime_type), uploaded, save=False)


def store_direct_upload(owner_id: Any, uploaded: UploadedFile, base_url: str) -> Attachment:
    """Check and store a direct upload; returns the attachment, ready to be sent."""
    name = display_name(uploaded.name or "")
    mime = normalise_type(uploaded.content_type or "", name)
    check_content(uploaded, mime)
    attachment_id = new_attachment_id()
    attachment = chatkit_attachment(attachment_id, name, mime, owner_id, base_url)
    row = models.Attachment(
        id=attachment_id,
        owner_id=owner_id,
        name=name,
        mime_type=mime,
        size=uploaded.size,
        data=attachment.model_dump(mode="json"),
        upload_state=models.Attachment.UploadState.UPLOADED,
    )
    save_file(row, uploaded)
    try:
        row.save(force_insert=True)
    except Exception:
        default_storage.delete(row.file.name)
        raise
    return attachment


def complete_upload(row: models.Attachment, uploaded: UploadedFile, base_url: str) -> Attachment:
    """Store the bytes of a two-phase upload and mark it uploaded, exactly once.

    The type declared at `attachments.create` is the one checked against the content.
    """
    check_content(uploaded, row.mime_type)
    attachment = attachment_adapter.validate_python(row.data).model_copy(
        update={"upload_descriptor": None}
    )
    save_file(row, uploaded)
    updated = models.Attachment.objects.filter(
        pk=row.pk, owner_id=row.owner_id, upload_state=models.Attachment.UploadState.PENDING
    ).update(
        file=row.file.name,
        size=uploaded.size,
        upload_state=models.Attachment.UploadState.UPLOADED,
        data=attachment.model_dump(mode="json"),
    )
    if not updated:
        default_storage.delete(row.file.name)
        raise AttachmentRejected(409, gettext("This attachment has already been uploaded."))
    return resigned(attachment, row.owner_id, base_url)
