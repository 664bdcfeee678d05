"""What a user may pick in the composer: a model (CHAT_MODELS) and a tool
(CHAT_COMPOSER_TOOLS), offered to the widget as `composer.models` and `composer.tools`
and checked when a message names them (`inference_options`)."""

from typing import Any

from chat.conf import app_settings
from chat.errors import BadRequest


def model_entry(model_id: str) -> dict[str, Any] | None:
    """The CHAT_MODELS entry of `model_id`, or None."""
    return next((entry for entry in app_settings.MODELS if entry["id"] == model_id), None)


def tool_entry(tool_id: str) -> dict[str, Any] | None:
    return next((entry for entry in app_settings.COMPOSER_TOOLS if entry["id"] == tool_id), None)


def checked_model(model_id: str | None) -> str:
    """The model a message asks for, if it is one of CHAT_MODELS (400 otherwise)."""
    if not model_id:
        return ""
    if model_entry(model_id) is None:
        offered = ", ".join(entry["id"] for entry in app_settings.MODELS) or "none"
        raise BadRequest(
            f"Unknown model {model_id!r} in inference_options.model (this site offers: {offered})."
        )
    return model_id


def checked_tool(tool_id: str | None) -> str:
    """The agent tool a message's tool choice forces, if it is offered (400 otherwise)."""
    if not tool_id:
        return ""
    entry = tool_entry(tool_id)
    if entry is None:
        raise BadRequest(f"Unknown tool {tool_id!r} in inference_options.tool_choice.")
    return entry["tool"]


def composer_models() -> list[dict[str, Any]]:
    """ChatKit's `composer.models` (empty: the widget shows no model picker)."""
    offered = []
    for index, entry in enumerate(app_settings.MODELS):
        option = {"id": entry["id"], "label": entry["label"]}
        if entry.get("description"):
            option["description"] = entry["description"]
        if entry.get("default") or (index == 0 and not any_default()):
            option["default"] = True
        offered.append(option)
    return offered


def any_default() -> bool:
    return any(entry.get("default") for entry in app_settings.MODELS)


def composer_tools() -> list[dict[str, Any]]:
    """ChatKit's `composer.tools`: the entries without the agent tool's name."""
    return [
        {key: value for key, value in entry.items() if key != "tool"}
        for entry in app_settings.COMPOSER_TOOLS
    ]
