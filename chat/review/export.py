"""Threads exported for people and programs: JSON, JSON Lines and Markdown.

Everything here streams: threads come from `.iterator()`, each thread's items from another
`.iterator()`, and output is produced as chunks of text, so a large export never holds more
than one thread's feedback and attachment list in memory.
"""

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import quote

from django.db.models import QuerySet
from django.utils import timezone

from chat.models import Attachment, Thread, ThreadItem
from chat.review.items import (
    INTERNAL_TYPES,
    ItemView,
    attachment_url,
    describe_item,
    iso,
    thread_feedback,
)

# Rows fetched per round trip while streaming threads and items.
CHUNK_SIZE = 200

def attachment_record(row: Attachment) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "mime_type": row.mime_type,
        "size": row.size,
        "upload_state": row.upload_state,
        "created_at": iso(row.created_at),
        "url": attachment_url(row.id),
    }


def thread_header(thread: Thread, attachments: list[Attachment]) -> dict[str, Any]:
    owner = thread.owner
    return {
        "id": thread.id,
        "title": thread.title,
        "owner": {"id": owner.pk, "username": owner.get_username(), "email": owner.email},
        "created_at": iso(thread.created_at),
        "updated_at": iso(thread.updated_at),
        "status": thread.status,
        "metadata": thread.metadata,
        "input_tokens": thread.input_tokens,
        "output_tokens": thread.output_tokens,
        "attachments": [attachment_record(row) for row in attachments],
    }


def item_record(row: ThreadItem, feedback: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.item_id,
        "type": row.type,
        "created_at": iso(row.created_at),
        "text": row.text,
        "feedback": feedback,
        "data": row.data,
    }


def thread_attachments(thread: Thread) -> list[Attachment]:
    return list(Attachment.objects.filter(thread=thread).order_by("created_at", "pk"))


def thread_items(thread: Thread) -> Iterator[ThreadItem]:
    return (
        ThreadItem.objects.filter(thread=thread)
        .order_by("created_at", "pk")
        .iterator(chunk_size=CHUNK_SIZE)
    )


def export_queryset(threads: QuerySet[Thread]) -> Iterator[Thread]:
    """The threads in a stable order, streamed, with their owners in the same query."""
    rows = Thread.objects.filter(pk__in=threads.values("pk")).select_related("owner")
    return rows.order_by("created_at", "pk").iterator(chunk_size=CHUNK_SIZE)


def thread_json_chunks(thread: Thread) -> Iterator[str]:
    """One thread as a single-line JSON object, its items streamed one by one."""
    header = json.dumps(thread_header(thread, thread_attachments(thread)), ensure_ascii=False)
    feedback = thread_feedback(thread)
    # The header is a non-empty object: drop its closing brace and append "items".
    yield header[:-1] + ', "items": ['
    for index, row in enumerate(thread_items(thread)):
        record = item_record(row, feedback.get(row.pk, []))
        yield (", " if index else "") + json.dumps(record, ensure_ascii=False, default=str)
    yield "]}"


def json_document(threads: QuerySet[Thread]) -> Iterator[str]:
    """`{"exported_at": ..., "threads": [...]}`: the admin's JSON download."""
    yield '{"exported_at": ' + json.dumps(iso(timezone.now())) + ', "threads": ['
    for index, thread in enumerate(export_queryset(threads)):
        if index:
            yield ",\n"
        yield from thread_json_chunks(thread)
    yield "]}\n"


def jsonl_lines(threads: QuerySet[Thread]) -> Iterator[str]:
    """One thread per line, so a consumer can stream the file back thread by thread."""
    for thread in export_queryset(threads):
        yield from thread_json_chunks(thread)
        yield "\n"


# --- Markdown ---------------------------------------------------------------------------------


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")


def fenced(text: str, info: str = "") -> str:
    """A code block whose fence is longer than any backtick run inside the text."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


# A link stays one autolink: no space, angle bracket or quote can end it early.
LINK_SAFE = ":/?#[]@!$&'()*+,;=%-._~"

# Characters that would make a title, a file name or a quoted line into markup: the ones
# that open Markdown's links, images and code, and HTML's, which most renderers pass on.
MARKDOWN_SPECIAL = set("\\`[]")
HTML_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def escape_inline(text: str) -> str:
    """`text` shown as written by any Markdown renderer: no link, image, HTML or emphasis."""
    return "".join(
        HTML_ENTITIES.get(char) or (f"\\{char}" if char in MARKDOWN_SPECIAL else char)
        for char in text
    )


def one_line(text: str) -> str:
    """User or model text on one line of the document, escaped (escape_inline)."""
    return escape_inline(" ".join(text.split()))


def blockquote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def item_markdown(row: ThreadItem, feedback: list[dict[str, Any]]) -> str:
    view = describe_item(row.type, row.data, row.text)
    parts = [f"### {view.label} · {when(row.created_at)}"]
    if view.quoted_text:
        parts.append(blockquote("\n".join(map(escape_inline, view.quoted_text.splitlines()))))
    if view.tool:
        status = f" ({one_line(view.tool.status)})" if view.tool.status else ""
        name = view.tool.name.replace("`", "")  # a code span: nothing inside it is markup
        parts.append(f"`{name}`{status}")
        parts.append(fenced(view.tool.arguments, "json"))
        if view.tool.output:
            parts.append("Output:\n\n" + fenced(view.tool.output))
    if view.text:  # fenced: what a user or the model wrote is never markup in the export
        parts.append(fenced(view.text, "text"))
    for task in view.tasks:
        content = f": {one_line(task.content)}" if task.content else ""
        parts.append(f"- **{one_line(task.title)}**{content}")
    if view.link:
        parts.append(f"<{quote(view.link, safe=LINK_SAFE)}>")
    parts += widget_and_sources_markdown(view)
    for attachment in view.attachments:
        mime = f" ({attachment.mime_type})" if attachment.mime_type else ""
        parts.append(f"Attachment: [{one_line(attachment.name)}]({attachment.url}){mime}")
    for entry in feedback:
        parts.append(f"_Feedback: {entry['kind']} from {one_line(str(entry['user']))}_")
    return "\n\n".join(parts) + "\n\n"


def widget_and_sources_markdown(view: ItemView) -> list[str]:
    """A widget's texts and buttons, quoted, and the sources an answer cites."""
    parts = []
    if view.widget_lines:
        parts.append(blockquote("\n".join(one_line(line) for line in view.widget_lines)))
    if view.sources:
        lines = []
        for source in view.sources:
            title = one_line(source.title) or source.kind
            lines.append(f"- [{title}]({source.link})" if source.link else f"- {title}")
        parts.append("Sources:\n\n" + "\n".join(lines))
    return parts


def thread_markdown_chunks(thread: Thread) -> Iterator[str]:
    """One thread as Markdown; internal items and end-of-turn markers are left out."""
    owner = thread.owner
    email = f" &lt;{one_line(owner.email)}&gt;" if owner.email else ""
    yield (
        f"## {one_line(thread.title) or '(untitled)'}\n\n"
        f"- Thread: `{thread.id}`\n"
        f"- Owner: {one_line(owner.get_username())}{email}\n"
        f"- Started: {when(thread.created_at)}\n"
        f"- Last activity: {when(thread.updated_at)}\n"
        f"- Tokens: {thread.input_tokens} in, {thread.output_tokens} out\n\n"
    )
    feedback = thread_feedback(thread)
    for row in thread_items(thread):
        if row.type in INTERNAL_TYPES or row.type == "end_of_turn":
            continue
        yield item_markdown(row, feedback.get(row.pk, []))
    yield "---\n\n"


def markdown_document(threads: QuerySet[Thread]) -> Iterator[str]:
    yield f"# Conversations exported {when(timezone.now())}\n\n"
    for thread in export_queryset(threads):
        yield from thread_markdown_chunks(thread)


FORMATS = {"json": json_document, "jsonl": jsonl_lines, "markdown": markdown_document}


def write_export(threads: QuerySet[Thread], fmt: str, out: TextIO) -> None:
    """Write the threads to `out` in `fmt` (json, jsonl or markdown) as they are read."""
    for chunk in FORMATS[fmt](threads):
        out.write(chunk)
