"""What may be uploaded: accepted types, content signatures, safe names, size limits.

The rules here are pure (no storage, no database): uploads, the ChatKit attachment store
and the page's composer options all apply the same ones.
"""

import mimetypes
import unicodedata
import uuid
from pathlib import PurePosixPath
from typing import Any

from chatkit.store import default_generate_id
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext

from chat.conf import app_settings
from chat.errors import AttachmentRejected

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


def allowed_types() -> tuple[str, ...]:
    return app_settings.ATTACHMENT_TYPES  # lower case: chat.conf parsed them


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
        raise AttachmentRejected(400, gettext("The file size cannot be negative."))
    if size > limit:
        raise AttachmentRejected(413, too_large(limit))
    if mime not in allowed_types():
        raise AttachmentRejected(
            415, gettext("Files of type %(type)s are not accepted.") % {"type": mime}
        )


def too_large(limit: int) -> str:
    """The 413's sentence, with the limit as a reader counts it ("10.0 MB")."""
    return gettext("The file is larger than %(limit)s.") % {"limit": filesizeformat(limit)}


def read_head(uploaded: UploadedFile) -> bytes:
    uploaded.seek(0)
    head = uploaded.read(HEAD_BYTES)
    uploaded.seek(0)
    return head


def check_content(uploaded: UploadedFile, mime: str) -> None:
    """Refuse the bytes themselves: too many, or not what the declared type says."""
    check_declared(uploaded.size or 0, mime)
    if not matches_signature(read_head(uploaded), mime):
        raise AttachmentRejected(
            415, gettext("The file's content is not of type %(type)s.") % {"type": mime}
        )


def composer_attachment_options() -> dict[str, Any]:
    """ChatKit JS `composer.attachments`: the same limits the server enforces."""
    types = allowed_types()
    return {
        "enabled": bool(types),
        "maxSize": app_settings.ATTACHMENT_MAX_BYTES,
        "maxCount": app_settings.ATTACHMENTS_PER_MESSAGE,
        "accept": {
            mime: list(EXTENSIONS.get(mime) or filter(None, [mimetypes.guess_extension(mime)]))
            for mime in types
        },
    }
