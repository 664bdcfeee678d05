"""How a stored conversation reads: one item (`ThreadItem.data`) as people see it.

The admin transcript, the export formats and `manage.py export_threads` show a
conversation the same way because they all describe items here. Rendering reads
defensively: a row written by an older SDK, or a hand-edited one, must not break the admin
page or an export.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from django.urls import NoReverseMatch, reverse

from chat.models import Feedback, Thread, ThreadItem

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
    # "uploaded", or "failed" for a file the message named that never arrived (set by the
    # transcript from the stored rows; empty when not looked up).
    state: str = ""

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")


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
class SourceRef:
    """A source an answer cites (URL, file or entity), as a reader sees it."""

    kind: str
    title: str
    link: str = ""
    detail: str = ""


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
    # The sources an answer cites, and what a widget shows (its texts and buttons).
    sources: list[SourceRef] = field(default_factory=list)
    widget_lines: list[str] = field(default_factory=list)


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
        view.sources = cited_sources(data)
    elif item_type == "client_tool_call":
        view.tool = ToolCall(
            name=as_text(data.get("name")),
            status=as_text(data.get("status")),
            arguments=pretty_json(data.get("arguments")),
            output=pretty_json(data.get("output")),
        )
    elif item_type == "widget":
        view.text = as_text(data.get("copy_text"))
        view.widget_lines = widget_lines(data.get("widget"))
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


def source_ref(source: dict) -> SourceRef:
    kind = as_text(source.get("type"))
    title = as_text(source.get("title")) or as_text(source.get("label"))
    if kind == "url":
        return SourceRef(kind, title or as_text(source.get("url")), safe_link(source.get("url")))
    if kind == "file":
        filename = as_text(source.get("filename"))
        return SourceRef(kind, title or filename, detail=filename)
    entity_id = as_text(source.get("id"))
    return SourceRef(kind or "entity", title or entity_id, detail=entity_id)


def cited_sources(data: dict) -> list[SourceRef]:
    """The sources of an answer's annotations, each once, in the order they are cited."""
    found: dict[tuple, SourceRef] = {}
    for part in map(as_dict, as_list(data.get("content"))):
        for annotation in map(as_dict, as_list(part.get("annotations"))):
            ref = source_ref(as_dict(annotation.get("source")))
            found.setdefault((ref.kind, ref.title, ref.link, ref.detail), ref)
    return list(found.values())


# Widget components whose text a reader sees, and the props that hold it.
WIDGET_TEXT_PROPS = ("title", "value", "label", "placeholder")


def widget_lines(widget: Any, limit: int = 40) -> list[str]:
    """What a widget shows, one line per text or button ("[Count]"), depth first."""
    lines: list[str] = []

    def visit(node: Any) -> None:
        node = as_dict(node)
        if not node or len(lines) >= limit:
            return
        texts = (as_text(node.get(prop)) for prop in WIDGET_TEXT_PROPS)
        text = next((value for value in texts if value), "")
        if text:
            lines.append(f"[{text}]" if node.get("type") == "Button" else text)
        children = node.get("children")
        for child in children if isinstance(children, list) else [children]:
            visit(child)

    visit(widget)
    return lines[:limit]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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
