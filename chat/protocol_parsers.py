"""Parsers of the settings behind the ChatKit protocol's optional parts: action handlers,
the models and composer tools users may pick, dictation, entity search.

Kept apart from chat/setting_parsers.py (the general ones) because they belong together
and change together; like those, nothing of the chat app is imported at import time
(chatsite/settings.py imports chat.conf before Django is set up).
"""

import re
from collections.abc import Callable
from typing import Any

from chat.setting_parsers import InvalidValue, import_callable, kind, short

BAD_ACTIONS = "chat.E011"
BAD_MODELS = "chat.E012"
BAD_COMPOSER_TOOLS = "chat.E013"
BAD_HOOK = "chat.E014"

# An action type, a model id, a tool id: what ChatKit sends back as an opaque string.
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")
PROVIDERS = ("auto", "openai", "compatible", "demo")


def action_handlers(raw: Any) -> dict[str, Callable[..., Any]]:
    """{"action.type": "dotted.path.to.handler"} -> {"action.type": handler}."""
    expected = 'a dict {"action.type": "dotted.path.to.handler"}'
    if not isinstance(raw, dict):
        raise InvalidValue(f"is {kind(raw)}, not a dict", expected, BAD_ACTIONS)
    handlers = {}
    for action_type, path in raw.items():
        if not isinstance(action_type, str) or not IDENTIFIER.match(action_type):
            raise InvalidValue(f"has a bad action type {short(action_type)}", expected, BAD_ACTIONS)
        handlers[action_type] = import_callable(path, expected, BAD_ACTIONS)
    return handlers


def optional_hook(expected: str) -> Callable[[Any], Callable[..., Any] | None]:
    """A dotted path to a callable, or empty for none."""

    def parse(raw: Any) -> Callable[..., Any] | None:
        if raw in ("", None):
            return None
        return import_callable(raw, expected, BAD_HOOK)

    return parse


def entries(raw: Any, expected: str, check_id: str, required: set[str], optional: set[str]):
    """A list of dicts with string values, the required keys present and no unknown ones."""
    if not isinstance(raw, list | tuple):
        raise InvalidValue(f"is {kind(raw)}, not a list", expected, check_id)
    seen = set()
    for index, entry in enumerate(raw):
        fields = entry if isinstance(entry, dict) else {}
        keys = set(fields)
        good = (
            fields
            and required <= keys
            and not keys - required - optional
            and all(isinstance(fields[key], str) for key in keys - {"default"})
            and isinstance(fields.get("default", False), bool)
            and IDENTIFIER.match(fields.get("id", ""))
        )
        if not good:
            raise InvalidValue(f"has a bad entry [{index}]: {short(entry)}", expected, check_id)
        if fields["id"] in seen:
            raise InvalidValue(f"names {fields['id']!r} twice", expected, check_id)
        seen.add(fields["id"])
        yield dict(fields)


def model_choices(raw: Any) -> list[dict[str, Any]]:
    """The models users may pick in the composer; empty: just CHAT_MODEL."""
    expected = (
        'a list of {"id", "label", "provider" (auto, openai, compatible or demo), '
        '"description", "default"} (id and label required)'
    )
    parsed = list(
        entries(raw, expected, BAD_MODELS, {"id", "label"}, {"provider", "description", "default"})
    )
    for entry in parsed:
        if entry.setdefault("provider", "auto") not in PROVIDERS:
            problem = f"has an unknown provider {entry['provider']!r}"
            raise InvalidValue(problem, expected, BAD_MODELS)
    if sum(bool(entry.get("default")) for entry in parsed) > 1:
        raise InvalidValue("marks more than one model as the default", expected, BAD_MODELS)
    return parsed


def composer_tools(raw: Any) -> list[dict[str, Any]]:
    """Tools users may pick in the composer, each naming the agent tool it forces."""
    expected = (
        'a list of {"id", "label", "tool" (the agent tool\'s name), "icon", "shortLabel", '
        '"placeholderOverride"} (id, label and tool required)'
    )
    return list(
        entries(
            raw,
            expected,
            BAD_COMPOSER_TOOLS,
            {"id", "label", "tool"},
            {"icon", "shortLabel", "placeholderOverride"},
        )
    )
