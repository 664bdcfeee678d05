"""Thread items -> model input, for the parts the SDK's default converter leaves open.

Attachments: the model cannot fetch the site's authenticated URLs, so their bytes go into
the request itself, each bounded: images as base64 data URLs (`input_image`), PDFs as
base64 `input_file`, text-like files as an excerpt with the name (`input_text`). Anything
else, too large, unreadable or gone is described by name and type instead of failing the
turn.
"""

import base64
import json
from html import escape
from pathlib import PurePosixPath

from agents import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    Attachment,
    UserMessageItem,
    UserMessageTagContent,
)
from openai.types.responses import (
    ResponseInputContentParam,
    ResponseInputFileParam,
    ResponseInputImageParam,
    ResponseInputTextParam,
)

from chat.attachments.files import read_stored
from chat.attachments.policy import EXTENSIONS, PREVIEWABLE, matches_signature
from chat.conf import app_settings

# Types that are text whatever their MIME family says; text/* is text too.
TEXT_TYPES = {
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-javascript",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/x-sh",
    "application/sql",
}
TEXT_SUFFIXES = {
    suffix
    for mime in ("text/plain", "text/markdown", "text/csv", "application/json")
    for suffix in EXTENSIONS[mime]
}


def is_text(attachment: Attachment) -> bool:
    mime = attachment.mime_type.lower()
    suffix = PurePosixPath(attachment.name).suffix.lower()
    return mime.startswith("text/") or mime in TEXT_TYPES or suffix in TEXT_SUFFIXES


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def described(attachment: Attachment, note: str = "") -> ResponseInputTextParam:
    """A file the model cannot read directly, named so it can at least talk about it."""
    suffix = f" {note}" if note else ""
    return ResponseInputTextParam(
        type="input_text",
        text=f"[The user attached a file: {attachment.name} ({attachment.mime_type}).{suffix}]",
    )


def text_excerpt(attachment: Attachment, data: bytes, size: int) -> ResponseInputTextParam:
    """The file's text, cut to CHAT_ATTACHMENT_TEXT_MAX_CHARS, with its name."""
    limit = app_settings.ATTACHMENT_TEXT_MAX_CHARS
    text = data.decode("utf-8-sig", errors="replace")
    cut = len(text) > limit or len(data) < size
    text = text[:limit]
    extent = f"first {len(text)} characters of {size} bytes" if cut else f"{size} bytes"
    return ResponseInputTextParam(
        type="input_text",
        text=(
            f"The user attached the file {attachment.name} ({attachment.mime_type}, "
            f'{extent}):\n<file name="{attachment.name}">\n{text}\n</file>'
        ),
    )


async def attachment_input(attachment: Attachment) -> ResponseInputContentParam:
    """The model input for one sent attachment; never raises for a bad or missing file."""
    mime = attachment.mime_type.lower()
    if mime in PREVIEWABLE or mime == "application/pdf":
        return await binary_input(attachment, mime)
    if is_text(attachment):
        return await text_input(attachment)
    return described(attachment)


async def text_input(attachment: Attachment) -> ResponseInputTextParam:
    # Up to 4 bytes per character in UTF-8, and one more to tell whether it was cut.
    stored = await read_stored(attachment, app_settings.ATTACHMENT_TEXT_MAX_CHARS * 4 + 1)
    if stored is None:
        return described(attachment, "The file is no longer available.")
    data, size = stored
    if b"\x00" in data[:1024]:
        return described(attachment, "It is not readable text.")
    return text_excerpt(attachment, data, size)


async def binary_input(attachment: Attachment, mime: str) -> ResponseInputContentParam:
    """An image or PDF inline as base64, up to CHAT_ATTACHMENT_MODEL_MAX_BYTES."""
    limit = app_settings.ATTACHMENT_MODEL_MAX_BYTES
    stored = await read_stored(attachment, limit + 1)
    if stored is None:
        return described(attachment, "The file is no longer available.")
    data, size = stored
    if size > limit or len(data) > limit:
        return described(attachment, f"It is too large ({size} bytes) to show to the model.")
    if not matches_signature(data[:2048], mime):
        return described(attachment, "Its content does not match its type.")
    if mime == "application/pdf":
        return ResponseInputFileParam(
            type="input_file", file_data=data_url(mime, data), filename=attachment.name
        )
    return ResponseInputImageParam(
        type="input_image", detail="auto", image_url=data_url(mime, data)
    )


def image_name(attachment: Attachment) -> ResponseInputTextParam:
    return ResponseInputTextParam(
        type="input_text",
        text=f"[The user attached an image: {attachment.name} ({attachment.mime_type}).]",
    )


class SiteItemConverter(ThreadItemConverter):
    """Never fails a turn over content the model cannot take directly: it is described."""

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        return await attachment_input(attachment)

    async def user_message_to_input(
        self, item: UserMessageItem, is_last_message: bool = True
    ) -> list[TResponseInputItem]:
        """The SDK's conversion, with each image preceded by its name: the model sees the
        picture, and can still say which file it was."""
        converted = await super().user_message_to_input(item, is_last_message)
        converted = converted if isinstance(converted, list) else [converted]
        if not item.attachments or not converted:
            return converted
        # The SDK's content: the typed text, then one part per attachment, in order.
        typed, *parts = converted[0]["content"]
        content = [typed]
        for attachment, part in zip(item.attachments, parts, strict=False):
            if part.get("type") == "input_image":
                content.append(image_name(attachment))
            content.append(part)
        converted[0] = {**converted[0], "content": content}
        return converted

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputContentParam:
        """An @-mention as structured context: the entity's id, title, group and data."""
        data = json.dumps(tag.data, ensure_ascii=False, sort_keys=True, default=str)
        group = f' group="{escape(tag.group)}"' if tag.group else ""
        return ResponseInputTextParam(
            type="input_text",
            text=f'<tag id="{escape(tag.id)}" title="{escape(tag.text)}"{group}>{data}</tag>',
        )

    async def assistant_message_to_input(self, item: AssistantMessageItem) -> TResponseInputItem:
        """Earlier answers as Responses *output* messages.

        The SDK's default is an "easy" input message holding output_text parts, which the
        Agents SDK's Chat Completions converter rejects, so every OpenAI-compatible
        provider (Ollama, vLLM, ...) failed from the second turn on. The output-message
        shape is valid input for both APIs.
        """
        return {
            "type": "message",
            "role": "assistant",
            "id": item.id,
            "status": "completed",
            "content": [
                {"type": "output_text", "text": with_sources(part), "annotations": []}
                for part in item.content
            ],
        }


def with_sources(part: AssistantMessageContent) -> str:
    """An earlier answer's text with the sources it cited, so the model keeps them."""
    titles = []
    for annotation in part.annotations:
        source = annotation.source
        where = getattr(source, "url", None) or getattr(source, "filename", None) or source.id
        titles.append(f"{source.title} ({where})" if where else source.title)
    if not titles:
        return part.text
    return f"{part.text}\n\n[Sources: {'; '.join(dict.fromkeys(titles))}]"
