"""Attachments: what may be uploaded, where the bytes go, and who may read them back.

Two upload paths end in the same place, a `chat.models.Attachment` row whose file lives in
Django's default storage under a generated name:

- direct: one multipart POST to /chatkit/upload/ with the Bearer token;
- two-phase: `attachments.create` (checked against the limits before any byte is sent)
  returns an `upload_descriptor` whose URL carries a short-lived signed token; the POST to
  it stores the bytes and marks the row uploaded. A pending row cannot be sent.

Reading back: `<img src>` and links cannot send a Bearer header, so preview and download
URLs carry a signed, expiring token bound to the attachment and its owner. Because
items.list returns stored JSON, the store re-signs `preview_url` whenever it loads an
attachment (`with_fresh_urls`), so old threads keep working previews without long-lived
signatures.
"""

import logging
import mimetypes
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from chatkit.store import AttachmentStore, NotFoundError, default_generate_id
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
    ThreadItem,
    UserMessageItem,
)
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import content_disposition_header
from pydantic import AnyUrl, TypeAdapter

from accounts.jwt import authenticate_bearer
from chat import models
from chat.conf import app_settings
from chat.context import RequestContext

logger = logging.getLogger(__name__)

attachment_adapter: TypeAdapter[Attachment] = TypeAdapter(Attachment)


class AttachmentRejected(Exception):
    """An upload the site refuses; `status` is the HTTP status the client gets."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- types, signatures and names ---------------------------------------------------------

# Extensions per MIME type: the first one names stored files, all of them go into the
# composer's `accept` option.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
    # Source code and other plain text that browsers report under many types.
    "text/plain": tuple(
        ".txt .log .py .js .ts .tsx .jsx .java .c .h .cpp .cs .go .rs .rb .php .sh .sql"
        " .html .css .xml .yaml .yml .toml .ini".split()
    ),
    "text/markdown": (".md", ".markdown"),
    "text/csv": (".csv",),
    "application/json": (".json",),
}

# Magic bytes of the types whose content is checked against the declared type. Only these
# images get a preview and are served inline; anything else is served as a download.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # and b"WEBP" at offset 8, see `matches_signature`
    "application/pdf": (b"%PDF-",),
}
PREVIEWABLE = {"image/png", "image/jpeg", "image/gif", "image/webp"}
INLINE = PREVIEWABLE | {"application/pdf"}

# Types a browser reports for files that are really text, depending on the platform.
GENERIC_TYPES = {"", "application/octet-stream", "application/x-zerosize"}

DISPLAY_NAME_MAX = 200
HEAD_BYTES = 2048


def allowed_types() -> list[str]:
    return [mime.lower() for mime in app_settings.ATTACHMENT_TYPES]


def type_for_extension(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    for mime, suffixes in EXTENSIONS.items():
        if suffix in suffixes:
            return mime
    return ""


def normalise_type(declared: str, name: str) -> str:
    """The MIME type to check and store for a file the client declared as `declared`.

    Browsers disagree on text files (`.py` is text/x-python, `.md` is often empty, `.csv`
    can be application/vnd.ms-excel): when the declared type is not allowed but is generic
    or textual, the file name's extension decides. Images and PDFs found this way are still
    checked against their signature, so this never lets a lie through.
    """
    mime = (declared or "").split(";", 1)[0].strip().lower()
    allowed = allowed_types()
    if mime in allowed:
        return mime
    guessed = type_for_extension(name)
    textual = mime.startswith("text/") or mime.startswith("application/")
    if guessed in allowed and (mime in GENERIC_TYPES or textual):
        return guessed
    return mime or "application/octet-stream"


def matches_signature(head: bytes, mime: str) -> bool:
    """True unless `mime` has a known signature that `head` (the first bytes) lacks."""
    if mime not in SIGNATURES:
        return True
    if mime == "application/pdf":
        # Readers accept up to 1 KiB of junk before the header; so does this check.
        return b"%PDF-" in head[:1024]
    if mime == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return head.startswith(SIGNATURES[mime])


def display_name(raw: str) -> str:
    """The client's file name made safe to show and to put in a header, bounded in length.

    Only the last path component is kept; control and format characters (NUL, newlines,
    RTL overrides, zero-width marks) are dropped; whitespace is collapsed. The result is
    never used to name a stored file.
    """
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = " ".join(name.split()).strip(" .")
    if not name:
        return "attachment"
    if len(name) <= DISPLAY_NAME_MAX:
        return name
    suffix = PurePosixPath(name).suffix
    suffix = suffix if len(suffix) <= 16 else ""
    return name[: DISPLAY_NAME_MAX - len(suffix) - 1].rstrip() + "…" + suffix


def storage_name(mime: str) -> str:
    """A fresh, unguessable file name whose extension follows the (checked) MIME type."""
    suffixes = EXTENSIONS.get(mime)
    suffix = suffixes[0] if suffixes else (mimetypes.guess_extension(mime) or ".bin")
    if not suffix[1:].isalnum() or len(suffix) > 9:
        suffix = ".bin"
    return f"{uuid.uuid4().hex}{suffix}"


def new_attachment_id() -> str:
    """Like the store's ids: the SDK's 32 random bits widened so they stay unique."""
    return f"{default_generate_id('attachment')}{uuid.uuid4().hex[:16]}"


def check_declared(size: int, mime: str) -> None:
    """Refuse a file by what is known before reading it: its size and its type."""
    limit = app_settings.ATTACHMENT_MAX_BYTES
    if size < 0:
        raise AttachmentRejected(400, "The file size cannot be negative.")
    if size > limit:
        raise AttachmentRejected(413, f"The file is larger than {limit} bytes.")
    if mime not in allowed_types():
        raise AttachmentRejected(415, f"Files of type {mime!r} are not accepted.")


def read_head(uploaded: UploadedFile) -> bytes:
    uploaded.seek(0)
    head = uploaded.read(HEAD_BYTES)
    uploaded.seek(0)
    return head


def check_content(uploaded: UploadedFile, mime: str) -> None:
    """Refuse the bytes themselves: too many, or not what the declared type says."""
    check_declared(uploaded.size or 0, mime)
    if not matches_signature(read_head(uploaded), mime):
        raise AttachmentRejected(415, f"The file's content is not {mime!r}.")


# --- signed URLs -------------------------------------------------------------------------

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
        return int(app_settings.ATTACHMENT_UPLOAD_URL_MAX_AGE)
    return int(app_settings.ATTACHMENT_URL_MAX_AGE)


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


def request_base_url(request: HttpRequest) -> str:
    """Scheme and host of the request, e.g. `https://example.com`: ChatKit needs absolute
    preview URLs, and the store only sees the RequestContext."""
    return request.build_absolute_uri("/").rstrip("/")


def base_url_of(context: RequestContext) -> str | None:
    return context.extra.get("base_url") or None


def download_url(attachment_id: str, owner_id: Any, base_url: str) -> str:
    """An absolute, signed, expiring link to the attachment's bytes."""
    path = reverse("chatkit-attachment", args=[attachment_id])
    query = urlencode({"token": sign_token(DOWNLOAD, attachment_id, owner_id)})
    return f"{base_url}{path}?{query}"


def upload_url(attachment_id: str, owner_id: Any, base_url: str) -> str:
    path = reverse("chatkit-attachment-upload", args=[attachment_id])
    query = urlencode({"token": sign_token(UPLOAD, attachment_id, owner_id)})
    return f"{base_url}{path}?{query}"


# --- ChatKit attachment models -----------------------------------------------------------


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


def fresh_attachment(attachment: Attachment, context: RequestContext) -> Attachment:
    """The user's attachment as loaded for this request: preview URL valid from now on."""
    return resigned(attachment, context.user_id, base_url_of(context))


def with_fresh_urls(item: ThreadItem, context: RequestContext) -> ThreadItem:
    """A stored item whose image attachments carry preview URLs valid from now on."""
    if isinstance(item, UserMessageItem) and item.attachments:
        attachments = [fresh_attachment(a, context) for a in item.attachments]
        return item.model_copy(update={"attachments": attachments})
    return item


def to_json(attachment: Attachment) -> bytes:
    """Serialised exactly as the ChatKit server serialises it."""
    return attachment.model_dump_json(
        by_alias=True, exclude_none=True, context={"exclude_metadata": True}
    ).encode()


# --- storing uploads (sync: call through sync_to_async) ----------------------------------


def uploaded_file(request: HttpRequest) -> UploadedFile:
    """The multipart field `file` (parsing reads the spooled body: call off the loop)."""
    uploaded = request.FILES.get("file")
    if uploaded is None:
        raise AttachmentRejected(400, "Send the file as the multipart field 'file'.")
    return uploaded


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
        raise AttachmentRejected(409, "This attachment has already been uploaded.")
    return resigned(attachment, row.owner_id, base_url)


# --- who may do what ---------------------------------------------------------------------


async def requesting_user(request: HttpRequest) -> AbstractBaseUser | None:
    """The Bearer token's user if the request sends one (AuthenticationFailed if it is
    bad), else the session's user, else None."""
    if request.headers.get("Authorization"):
        return await authenticate_bearer(request)
    user = await request.auser()
    return user if user.is_authenticated else None


async def pending_upload_for(request: HttpRequest, attachment_id: str) -> models.Attachment | None:
    """The attachment a two-phase upload targets, if the URL token or Bearer token is its
    owner's; None (so: 404) for anyone else or a missing id; 409 if already uploaded."""
    token = request.GET.get("token", "")
    owner_id = token_owner(UPLOAD, attachment_id, token) if token else None
    if owner_id is None and request.headers.get("Authorization"):
        owner_id = (await authenticate_bearer(request)).pk
    if owner_id is None:
        return None
    row = await models.Attachment.objects.filter(pk=attachment_id, owner_id=owner_id).afirst()
    if row is not None and row.upload_state != models.Attachment.UploadState.PENDING:
        raise AttachmentRejected(409, "This attachment has already been uploaded.")
    return row


async def attachment_for_download(
    request: HttpRequest, attachment_id: str
) -> tuple[models.Attachment, bool] | None:
    """The uploaded attachment if the requester may read it, and whether a URL token (rather
    than a session or Bearer token) authorised it; None for anyone else.

    Allowed: a valid signed link; the owner (session or Bearer); staff with permission to
    view threads (the admin's transcript links).
    """
    rows = models.Attachment.objects.filter(
        pk=attachment_id, upload_state=models.Attachment.UploadState.UPLOADED
    )
    token = request.GET.get("token", "")
    owner_id = token_owner(DOWNLOAD, attachment_id, token) if token else None
    if owner_id is not None:
        row = await rows.filter(owner_id=owner_id).afirst()
        if row is not None:
            return row, True
    user = await requesting_user(request)
    if user is None:
        return None
    row = await rows.filter(owner_id=user.pk).afirst()
    if row is None and user.is_staff and await user.ahas_perm("chat.view_thread"):
        row = await rows.afirst()
    return (row, False) if row is not None else None


async def sendability_problem(
    attachment_id: str, thread_id: str | None, context: RequestContext
) -> str | None:
    """Why the user's attachment cannot go into a message in `thread_id`, or None.

    Raises NotFoundError for an id that is missing or someone else's.
    """
    row = (
        await models.Attachment.objects.filter(pk=attachment_id, owner_id=context.user_id)
        .values("upload_state", "thread_id")
        .afirst()
    )
    if row is None:
        raise NotFoundError(f"Attachment {attachment_id} not found")
    if row["upload_state"] != models.Attachment.UploadState.UPLOADED:
        return f"Attachment {attachment_id} has not been uploaded yet."
    if row["thread_id"] is not None and row["thread_id"] != thread_id:
        return f"Attachment {attachment_id} was already sent in another conversation."
    return None


# --- serving ------------------------------------------------------------------------------

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


# --- the ChatKit AttachmentStore ---------------------------------------------------------


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
        base_url = base_url_of(context)
        if base_url is None:
            raise RuntimeError("RequestContext.extra['base_url'] is needed to build upload URLs")
        attachment_id = self.generate_attachment_id(mime, context)
        # The SDK saves it through Store.save_attachment: a pending row without a thread.
        return chatkit_attachment(
            attachment_id, name, mime, context.user_id, base_url, pending=True
        )

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        exists = await models.Attachment.objects.filter(
            pk=attachment_id, owner_id=context.user_id
        ).aexists()
        if not exists:
            raise NotFoundError(f"Attachment {attachment_id} not found")


# --- reading bytes back (for the model) --------------------------------------------------


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
    return await sync_to_async(read_stored_sync)(attachment.id, attachment.thread_id, limit)


# --- what the page's widget needs --------------------------------------------------------


def composer_attachment_options() -> dict[str, Any]:
    """ChatKit JS `composer.attachments`: the same limits the server enforces."""
    types = allowed_types()
    return {
        "enabled": bool(types),
        "maxSize": int(app_settings.ATTACHMENT_MAX_BYTES),
        "maxCount": int(app_settings.ATTACHMENTS_PER_MESSAGE),
        "accept": {
            mime: list(EXTENSIONS.get(mime) or filter(None, [mimetypes.guess_extension(mime)]))
            for mime in types
        },
    }


def upload_strategy_option(request: HttpRequest | None = None) -> dict[str, Any]:
    """ChatKit JS `api.uploadStrategy`, as configured by CHAT_ATTACHMENT_UPLOAD_STRATEGY."""
    if app_settings.ATTACHMENT_UPLOAD_STRATEGY == "direct":
        url = reverse("chatkit-upload")
        return {"type": "direct", "uploadUrl": request.build_absolute_uri(url) if request else url}
    return {"type": "two_phase"}
