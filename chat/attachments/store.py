"""The ChatKit side of attachments: their protocol models and the AttachmentStore.

`chatkit_attachment` builds what the protocol sends (an image with a signed preview URL,
or a file; with an upload descriptor while a two-phase upload is pending). Stored JSON
carries expiring signatures, so loaded attachments are re-signed (`with_fresh_urls`).
"""

from typing import Any

from chatkit.store import AttachmentStore, NotFoundError
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
    ThreadItem,
    UserMessageItem,
)
from pydantic import AnyUrl, TypeAdapter

from chat import models
from chat.attachments.policy import (
    PREVIEWABLE,
    check_declared,
    display_name,
    new_attachment_id,
    normalise_type,
)
from chat.attachments.signing import download_url, upload_url
from chat.context import RequestContext
from chatsite import db

attachment_adapter: TypeAdapter[Attachment] = TypeAdapter(Attachment)


def chatkit_attachment(
    attachment_id: str,
    name: str,
    mime: str,
    owner_id: Any,
    base_url: str,
    *,
    pending: bool = False,
) -> Attachment:
    """The ChatKit view of an attachment: an image (with a preview URL) or a file."""
    fields: dict[str, Any] = {"id": attachment_id, "name": name, "mime_type": mime}
    if pending:
        fields["upload_descriptor"] = AttachmentUploadDescriptor(
            url=AnyUrl(upload_url(attachment_id, owner_id, base_url)), method="POST"
        )
    if mime in PREVIEWABLE:
        preview = AnyUrl(download_url(attachment_id, owner_id, base_url))
        return ImageAttachment(**fields, preview_url=preview)
    return FileAttachment(**fields)


def resigned(attachment: Attachment, owner_id: Any, base_url: str | None) -> Attachment:
    """The attachment with a newly signed preview URL, when the site's address is known."""
    if not base_url or not isinstance(attachment, ImageAttachment):
        return attachment
    preview = AnyUrl(download_url(attachment.id, owner_id, base_url))
    return attachment.model_copy(update={"preview_url": preview})


def with_fresh_urls(item: ThreadItem, owner_id: Any, base_url: str) -> ThreadItem:
    """A stored item whose image attachments carry preview URLs valid from now on."""
    if isinstance(item, UserMessageItem) and item.attachments:
        attachments = [resigned(a, owner_id, base_url) for a in item.attachments]
        return item.model_copy(update={"attachments": attachments})
    return item


def to_json(attachment: Attachment) -> bytes:
    """Serialised exactly as the ChatKit server serialises it."""
    return attachment.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    ).encode()


class DjangoAttachmentStore(AttachmentStore[RequestContext]):
    """Two-phase creation and the ownership check of deletion.

    For `attachments.delete` the SDK calls this store and then `Store.delete_attachment`,
    which removes the row and then the file (a failure never leaves a row without its
    file). So this store only proves the attachment is the user's: a missing or foreign id
    raises NotFoundError (404) before anything is touched, and the work is done once.
    """

    def generate_attachment_id(self, mime_type: str, context: RequestContext) -> str:
        return new_attachment_id()

    async def create_attachment(
        self, input: AttachmentCreateParams, context: RequestContext
    ) -> Attachment:
        name = display_name(input.name)
        mime = normalise_type(input.mime_type, name)
        check_declared(input.size, mime)
        if not context.base_url:
            raise RuntimeError("RequestContext.base_url is needed to build upload URLs")
        attachment_id = self.generate_attachment_id(mime, context)
        # The SDK saves it through Store.save_attachment: a pending row without a thread.
        return chatkit_attachment(
            attachment_id, name, mime, context.user_id, context.base_url, pending=True
        )

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        rows = models.Attachment.objects.filter(pk=attachment_id, owner_id=context.user_id)
        exists = await db.run(rows.exists)
        if not exists:
            raise NotFoundError(f"Attachment {attachment_id} not found")
