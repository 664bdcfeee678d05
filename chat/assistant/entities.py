"""@-mentions: what the composer's tag search finds, and the previews of what it found.

The site names two hooks: CHAT_ENTITY_SEARCH, `(user, query) -> list of entities`, and
CHAT_ENTITY_PREVIEW, `(user, entity_id) -> widget dict or None` (plain functions: they run
on the database pool). An entity is ChatKit's `{"id", "title", "icon", "group",
"interactive", "data"}` (id and title required; `data` string values). The defaults
below make the user's own conversations mentionable. A tag the user sends reaches the
agent as structured context (chat/assistant/converter.py), and the answer may cite it as
an entity source.
"""

import logging
from typing import Any

from chatkit.widgets import DynamicWidgetRoot
from django.db.models import Q
from pydantic import ValidationError

from chat.conf import app_settings
from chat.models import Thread, ThreadItem

logger = logging.getLogger(__name__)

# Most entities one search returns.
SEARCH_LIMIT = 10
MAX_QUERY_CHARS = 200
ENTITY_KEYS = {"id", "title", "icon", "group", "interactive", "data", "description"}


def clean_entity(entity: Any) -> dict[str, Any] | None:
    """An entity as ChatKit takes it, or None for one the hook got wrong (dropped)."""
    if not isinstance(entity, dict):
        return None
    if not isinstance(entity.get("id"), str) or not isinstance(entity.get("title"), str):
        return None
    cleaned = {key: value for key, value in entity.items() if key in ENTITY_KEYS}
    data = cleaned.get("data")
    if data is not None:
        cleaned["data"] = {str(key): str(value) for key, value in dict(data).items()}
    return cleaned


def search(user: Any, query: str) -> list[dict[str, Any]]:
    """The entities the site's hook finds for `query` (empty when mentions are off)."""
    hook = app_settings.ENTITY_SEARCH
    if hook is None:
        return []
    found = hook(user, query.strip()[:MAX_QUERY_CHARS]) or []
    return [entity for entity in map(clean_entity, found) if entity][:SEARCH_LIMIT]


def preview(user: Any, entity_id: str) -> dict[str, Any] | None:
    """The preview widget of an entity (None: none), checked as a widget root (ChatKit
    shows a `Basic` root)."""
    hook = app_settings.ENTITY_PREVIEW
    if hook is None:
        return None
    widget = hook(user, entity_id)
    if widget is None:
        return None
    if not isinstance(widget, DynamicWidgetRoot):
        try:
            widget = DynamicWidgetRoot.model_validate(widget)
        except ValidationError:
            logger.warning("CHAT_ENTITY_PREVIEW gave a widget that is not one: %r", widget)
            return None
    return widget.model_dump(mode="json", exclude_none=True)


def enabled() -> bool:
    return app_settings.ENTITY_SEARCH is not None


# --- the defaults: the user's own conversations --------------------------------------------


def search_threads(user: Any, query: str) -> list[dict[str, Any]]:
    """The user's conversations whose title contains `query`, most recent first."""
    rows = Thread.objects.filter(owner_id=user.pk)
    if query:
        rows = rows.filter(Q(title__icontains=query))
    rows = rows.order_by("-updated_at").values_list("id", "title")[:SEARCH_LIMIT]
    return [
        {
            "id": thread_id,
            "title": title or "Untitled conversation",
            "group": "Conversations",
            "icon": "notebook",
            "interactive": True,
            "data": {"kind": "thread"},
        }
        for thread_id, title in rows
    ]


def preview_thread(user: Any, entity_id: str) -> dict[str, Any] | None:
    """A card with the conversation's title and its first message (the user's only)."""
    thread = Thread.objects.filter(owner_id=user.pk, pk=entity_id).first()
    if thread is None:
        return None
    first = (
        ThreadItem.objects.filter(thread=thread, type="user_message")
        .order_by("created_at", "id")
        .values_list("text", flat=True)
        .first()
    )
    return {
        "type": "Basic",
        "gap": 2,
        "children": [
            {"type": "Title", "value": thread.title or "Untitled conversation", "size": "sm"},
            {"type": "Text", "value": (first or "")[:300] or "No messages yet."},
        ],
    }
