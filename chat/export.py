"""Threads rendered for people and programs: JSON, JSON Lines, Markdown, and the transcript.

One module knows how the stored ChatKit JSON (`ThreadItem.data`) looks, so the admin
transcript, the admin export actions and `manage.py export_threads` show a conversation the
same way. Rendering reads defensively: a row written by an older SDK, or a hand-edited one,
must not break the admin page or an export.

Everything here streams: threads come from `.iterator()`, each thread's items from another
`.iterator()`, and output is produced as chunks of text, so a large export never holds more
than one thread's feedback and attachment list in memory.
"""

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from chat.models import Attachment, Feedback, Thread, ThreadItem

# Rows fetched per round trip while streaming threads and items.
CHUNK_SIZE = 200

# Item types the SDK stores for its own bookkeeping; never part of the visible conversation.
INTERNAL_TYPES = ThreadItem.INTERNAL_TYPES

ROLE_LABELS = {
    "user_message": ("user", "User"),
    "assistant_message": ("assistant", "Assistant"),
    "client_tool_call": ("tool", "Tool call"),
    "widget": ("assistant", "Widget"),
    "workflow": ("assistant", "Workflow"),
    "task": ("assistant", "Task"),
    "generated_image": ("assistant", "Generated image"),
    "structured_input": ("assistant", "Question"),
    "end_of_turn": ("system", "End of turn"),
    "sdk_hidden_context": ("system", "Hidden context (SDK)"),
    "hidden_context_item": ("system", "Hidden context"),
}


def attachment_url(attachment_id: str) -> str:
    """The authorised download path of an attachment (owner or staff only).

    Falls back to the literal path of the URL contract when the route is not registered,
    so transcripts and exports still point at the right place.
    """
    try:
        return reverse("chatkit-attachment", args=[attachment_id])
    except NoReverseMatch:
        return f"/chatkit/attachments/{quote(attachment_id, safe='')}/"


def safe_link(url: Any) -> str:
    """The URL if it is an http(s) link, else "": a `javascript:` URL in an href would run."""
    if not isinstance(url, str):
        return ""
    return url if urlsplit(url).scheme in {"http", "https"} else ""


def pretty_json(value: Any) -> str:
    """Tool arguments and outputs as readable, stable JSON text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass
class AttachmentRef:
    id: str
    name: str
    mime_type: str
    url: str


@dataclass
class ToolCall:
    name: str
    status: str
    arguments: str
    output: str


@dataclass
class TaskLine:
    title: str
    content: str


@dataclass
class ItemView:
    """What a reader sees of one item, independent of the output format."""

    type: str
    role: str
    label: str
    text: str = ""
    quoted_text: str = ""
    attachments: list[AttachmentRef] = field(default_factory=list)
    tool: ToolCall | None = None
    tasks: list[TaskLine] = field(default_factory=list)
    link: str = ""
    internal: bool = False


def task_line(task: Any) -> TaskLine:
    task = as_dict(task)
    title = as_text(task.get("title")) or as_text(task.get("title_query")) or task.get("type", "")
    content = as_text(task.get("content"))
    if not content and task.get("queries"):
        content = ", ".join(as_text(query) for query in as_list(task.get("queries")))
    sources = [as_dict(source) for source in as_list(task.get("sources"))]
    if not content and sources:
        content = ", ".join(as_text(source.get("title")) for source in sources)
    return TaskLine(title=str(title), content=content)


def user_message_view(view: ItemView, data: dict) -> None:
    view.text = "\n".join(
        as_text(part.get("text")) for part in map(as_dict, as_list(data.get("content")))
    ).strip()
    view.quoted_text = as_text(data.get("quoted_text"))
    for attachment in map(as_dict, as_list(data.get("attachments"))):
        attachment_id = as_text(attachment.get("id"))
        if attachment_id:
            view.attachments.append(
                AttachmentRef(
                    id=attachment_id,
                    name=as_text(attachment.get("name")) or attachment_id,
                    mime_type=as_text(attachment.get("mime_type")),
                    url=attachment_url(attachment_id),
                )
            )


def structured_input_text(data: dict) -> str:
    lines = []
    for entry in map(as_dict, as_list(data.get("inputs"))):
        answer = as_dict(entry.get("answer"))
        values = ", ".join(as_text(value) for value in as_list(answer.get("values")))
        reply = "(skipped)" if answer.get("skipped") else values or "(no answer)"
        lines.append(f"{as_text(entry.get('question'))} — {reply}")
    return "\n".join(lines)


def describe_item(item_type: str, data: Any, text: str = "") -> ItemView:
    """Turn one stored item into what a transcript or a Markdown export shows."""
    data = as_dict(data)
    role, label = ROLE_LABELS.get(item_type, ("system", item_type or "Item"))
    view = ItemView(type=item_type, role=role, label=label, internal=item_type in INTERNAL_TYPES)
    if item_type == "user_message":
        user_message_view(view, data)
    elif item_type == "assistant_message":
        view.text = "\n".join(
            as_text(part.get("text")) for part in map(as_dict, as_list(data.get("content")))
        ).strip()
    elif item_type == "client_tool_call":
        view.tool = ToolCall(
            name=as_text(data.get("name")),
            status=as_text(data.get("status")),
            arguments=pretty_json(data.get("arguments")),
            output=pretty_json(data.get("output")),
        )
    elif item_type == "widget":
        view.text = as_text(data.get("copy_text"))
    elif item_type == "workflow":
        workflow = as_dict(data.get("workflow"))
        summary = as_dict(workflow.get("summary"))
        view.text = as_text(summary.get("title"))
        view.tasks = [task_line(task) for task in as_list(workflow.get("tasks"))]
    elif item_type == "task":
        view.tasks = [task_line(data.get("task"))]
    elif item_type == "generated_image":
        view.link = safe_link(as_dict(data.get("image")).get("url"))
    elif item_type == "structured_input":
        view.text = structured_input_text(data)
    elif item_type in INTERNAL_TYPES:
        content = data.get("content")
        view.text = content if isinstance(content, str) else pretty_json(content)
    else:
        view.text = text
    return view


# --- transcript (admin) ------------------------------------------------------------------

# Items shown on a thread's admin page; longer threads say so and point at the export.
TRANSCRIPT_LIMIT = 500


@dataclass
class TranscriptEntry:
    item_id: str
    created_at: datetime
    view: ItemView
    feedback: list[dict[str, Any]]


@dataclass
class Transcript:
    entries: list[TranscriptEntry]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.entries)


def transcript(thread: Thread, limit: int | None = None) -> Transcript:
    """The first `limit` (default TRANSCRIPT_LIMIT) items of a thread as the admin shows
    them: three queries at most, however long the thread."""
    limit = TRANSCRIPT_LIMIT if limit is None else limit
    rows = list(ThreadItem.objects.filter(thread=thread).order_by("created_at", "pk")[: limit + 1])
    total = len(rows) if len(rows) <= limit else ThreadItem.objects.filter(thread=thread).count()
    feedback = thread_feedback(thread)
    entries = [
        TranscriptEntry(
            item_id=row.item_id,
            created_at=row.created_at,
            view=describe_item(row.type, row.data, row.text),
            feedback=feedback.get(row.pk, []),
        )
        for row in rows[:limit]
    ]
    return Transcript(entries=entries, total=total)


# --- records (JSON) -----------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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


# --- per-thread data ------------------------------------------------------------------------


def thread_attachments(thread: Thread) -> list[Attachment]:
    return list(Attachment.objects.filter(thread=thread).order_by("created_at", "pk"))


def thread_feedback(thread: Thread) -> dict[int, list[dict[str, Any]]]:
    """Feedback on the thread's items, by item pk: one query per thread, not per item."""
    by_item: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        Feedback.objects.filter(item__thread=thread)
        .order_by("created_at", "pk")
        .values_list("item_id", "user__username", "kind", "created_at")
    )
    for item_pk, username, kind, created_at in rows:
        by_item[item_pk].append({"user": username, "kind": kind, "created_at": iso(created_at)})
    return by_item


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


def one_line(text: str) -> str:
    return " ".join(text.split())


def blockquote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def item_markdown(row: ThreadItem, feedback: list[dict[str, Any]]) -> str:
    view = describe_item(row.type, row.data, row.text)
    parts = [f"### {view.label} · {when(row.created_at)}"]
    if view.quoted_text:
        parts.append(blockquote(view.quoted_text))
    if view.tool:
        status = f" ({view.tool.status})" if view.tool.status else ""
        parts.append(f"`{view.tool.name}`{status}")
        parts.append(fenced(view.tool.arguments, "json"))
        if view.tool.output:
            parts.append("Output:\n\n" + fenced(view.tool.output))
    if view.text:
        parts.append(view.text)
    for task in view.tasks:
        content = f": {task.content}" if task.content else ""
        parts.append(f"- **{one_line(task.title)}**{content}")
    if view.link:
        parts.append(f"<{view.link}>")
    for attachment in view.attachments:
        mime = f" ({attachment.mime_type})" if attachment.mime_type else ""
        parts.append(f"Attachment: [{one_line(attachment.name)}]({attachment.url}){mime}")
    for entry in feedback:
        parts.append(f"_Feedback: {entry['kind']} from {entry['user']}_")
    return "\n\n".join(parts) + "\n\n"


def thread_markdown_chunks(thread: Thread) -> Iterator[str]:
    """One thread as Markdown; internal items and end-of-turn markers are left out."""
    owner = thread.owner
    email = f" <{owner.email}>" if owner.email else ""
    yield (
        f"## {one_line(thread.title) or '(untitled)'}\n\n"
        f"- Thread: `{thread.id}`\n"
        f"- Owner: {owner.get_username()}{email}\n"
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
