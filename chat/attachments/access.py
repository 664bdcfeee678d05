"""Who may do what with an attachment: complete an upload, read the bytes, send it.

Every function takes plain values (ids, a URL token, a user): the views authenticate the
request and pass on who is asking. A missing attachment and someone else's look the same.
"""

from typing import Any

from chatkit.store import NotFoundError
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils.translation import gettext

from chat import models
from chat.attachments.signing import DOWNLOAD, UPLOAD, token_owner
from chat.errors import AttachmentRejected
from chatsite import db


def upload_token_owner(attachment_id: str, token: str) -> str | None:
    """The owner id a valid upload URL token names, else None."""
    return token_owner(UPLOAD, attachment_id, token) if token else None


@db.pooled
def pending_upload(attachment_id: str, owner_id: Any) -> models.Attachment | None:
    """The attachment a two-phase upload targets, if it is `owner_id`'s; None (so: 404) for
    anyone else or a missing id; 409 if its bytes were already uploaded."""
    if owner_id is None:
        return None
    row = models.Attachment.objects.filter(pk=attachment_id, owner_id=owner_id).first()
    if row is not None and row.upload_state != models.Attachment.UploadState.PENDING:
        raise AttachmentRejected(409, gettext("This attachment has already been uploaded."))
    return row


def uploaded_attachments() -> QuerySet[models.Attachment]:
    return models.Attachment.objects.filter(upload_state=models.Attachment.UploadState.UPLOADED)


@db.pooled
def downloadable_by_link(attachment_id: str, token: str) -> models.Attachment | None:
    """The uploaded attachment a valid signed download link names, else None."""
    owner_id = token_owner(DOWNLOAD, attachment_id, token) if token else None
    if owner_id is None:
        return None
    return uploaded_attachments().filter(pk=attachment_id, owner_id=owner_id).first()


@db.pooled
def downloadable_by(attachment_id: str, user: AbstractBaseUser) -> models.Attachment | None:
    """The uploaded attachment if `user` may read it: its owner, or staff with permission to
    view threads (the admin's transcript links); None for anyone else."""
    rows = uploaded_attachments().filter(pk=attachment_id)
    row = rows.filter(owner_id=user.pk).first()
    if row is None and user.is_staff and user.has_perm("chat.view_thread"):
        row = rows.first()
    return row


@db.pooled
def sendability_problem(
    attachment_id: str, thread_id: str | None, user_id: Any
) -> str | None:
    """Why the user's attachment cannot go into a message in `thread_id`, or None.

    Raises NotFoundError for an id that is missing or someone else's.
    """
    row = (
        models.Attachment.objects.filter(pk=attachment_id, owner_id=user_id)
        .values("upload_state", "thread_id")
        .first()
    )
    if row is None:
        raise NotFoundError(f"Attachment {attachment_id} not found")
    if row["upload_state"] != models.Attachment.UploadState.UPLOADED:
        return gettext("Attachment %(id)s has not been uploaded yet.") % {"id": attachment_id}
    if row["thread_id"] is not None and row["thread_id"] != thread_id:
        return gettext("Attachment %(id)s was already sent in another conversation.") % {
            "id": attachment_id
        }
    return None
