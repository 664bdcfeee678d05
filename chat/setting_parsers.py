"""How a CHAT_* setting's value is read and checked: the parsers chat/conf.py applies to
each setting, the environment readers chatsite/settings.py applies to each variable, and
the system check ids they report under.

A parser takes the raw value (a Django setting, or what the environment gave) and returns
the typed value, or raises `InvalidValue` saying what is wrong and what was expected.
"""

import json
import math
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from chat.assistant.mcp import McpServerConfig

PREFIX = "CHAT_"

# System check ids (chat/checks.py); the README lists them.
WRONG_TYPE = "chat.E001"
OUT_OF_RANGE = "chat.E002"
NOT_A_CHOICE = "chat.E003"
BAD_RATE = "chat.E004"
BAD_MCP_SERVERS = "chat.E005"
BAD_MIME_TYPES = "chat.E006"
BAD_AGENT = "chat.E007"
BAD_PROMPTS = "chat.E008"
BAD_URL = "chat.E009"
BAD_PRICES = "chat.E010"
UNKNOWN_SETTING = "chat.W001"


class InvalidValue(ValueError):
    """Raised by a parser: what is wrong with the value, what was expected, the check id."""

    def __init__(self, problem: str, expected: str, check_id: str = WRONG_TYPE) -> None:
        super().__init__(problem)
        self.problem = problem
        self.expected = expected
        self.check_id = check_id


class InvalidSetting(ImproperlyConfigured):
    """A CHAT_* setting that does not parse: the message names it, its value and the fault;
    the hint says what is expected."""

    def __init__(self, name: str, raw: Any, error: InvalidValue) -> None:
        self.name = PREFIX + name
        self.check_id = error.check_id
        self.message = f"{self.name}={short(raw)} {error.problem}."
        self.hint = f"Expected {error.expected}."
        super().__init__(f"{self.message} {self.hint}")


def short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind(value: Any) -> str:
    """'a str', 'an int', 'None': what a value of the wrong type is."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


# --- Parsers: raw value (a Django setting, or what the environment gave) -> typed value ---


def whole_number(minimum: int) -> Callable[[Any], int]:
    expected = f"a whole number of at least {minimum}"

    def parse(raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InvalidValue(f"is {kind(raw)}, not a whole number", expected)
        if raw < minimum:
            problem = "is negative" if raw < 0 else f"is below the minimum of {minimum}"
            raise InvalidValue(problem, expected, OUT_OF_RANGE)
        return raw

    return parse


def seconds(*, zero: bool) -> Callable[[Any], float]:
    """A number of seconds (an int or a float); `zero` says whether 0 is allowed."""
    expected = f"a number of seconds, {'0 or more' if zero else 'more than 0'}"

    def parse(raw: Any) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise InvalidValue(f"is {kind(raw)}, not a number", expected)
        if not math.isfinite(raw):
            raise InvalidValue("is not a finite number", expected, OUT_OF_RANGE)
        if raw < 0 or (raw == 0 and not zero):
            raise InvalidValue("is negative" if raw else "is 0", expected, OUT_OF_RANGE)
        return float(raw)

    return parse


def text(*, required: bool = False) -> Callable[[Any], str]:
    expected = "a non-empty string" if required else "a string"

    def parse(raw: Any) -> str:
        if not isinstance(raw, str):
            raise InvalidValue(f"is {kind(raw)}, not a string", expected)
        if required and not raw.strip():
            raise InvalidValue("is empty", expected, OUT_OF_RANGE)
        return raw

    return parse


def choice(*options: str) -> Callable[[Any], str]:
    """One of `options`, ignoring case and surrounding spaces."""
    expected = "one of " + ", ".join(repr(option) for option in options)

    def parse(raw: Any) -> str:
        value = raw.strip().lower() if isinstance(raw, str) else raw
        if value not in options:
            raise InvalidValue(f"is not one of {', '.join(options)}", expected, NOT_A_CHOICE)
        return value

    return parse


def flag(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise InvalidValue(f"is {kind(raw)}, not True or False", "True or False (1 or 0)")
    return raw


def http_url(raw: Any, *, optional: bool = False) -> str:
    """An absolute http(s) URL; with `optional`, also empty (none)."""
    expected = "an absolute http:// or https:// URL" + (", or empty for none" if optional else "")
    if not isinstance(raw, str):
        raise InvalidValue(f"is {kind(raw)}, not a URL", expected)
    if optional and not raw.strip():
        return ""
    parts = urlsplit(raw.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InvalidValue("is not an absolute http(s) URL", expected, BAD_URL)
    return raw.strip()


def origins(raw: Any) -> tuple[str, ...]:
    """Origins like `https://images.example.com`, each as scheme://host[:port]."""
    expected = "a list of http(s) origins like 'https://images.example.com'"
    if not isinstance(raw, list | tuple):
        raise InvalidValue(f"is {kind(raw)}, not a list", expected)
    found = []
    for each in raw:
        url = http_url(each)
        parts = urlsplit(url)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise InvalidValue(f"names a path ({url!r}), not an origin", expected)
        found.append(f"{parts.scheme}://{parts.netloc}".lower())
    return tuple(found)


UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Rate | None":
        """ "20/min", "100/hour", "5/10s"; empty or "0/..." means no limit.

        Called by chat.conf once per value of CHAT_RATE_LIMIT, not per message; chat/limits.py
        counts messages against it."""
        if not text.strip():
            return None
        match = RATE.match(text.lower())
        if not match or match.group(3) not in UNITS:
            raise ValueError(f"{text!r} is not like '20/min'")
        count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
        if not multiple:
            raise ValueError(f"{text!r} has a period of 0")
        return cls(count, multiple * UNITS[unit]) if count else None


def rate(raw: Any) -> "Rate | None":
    expected = (
        "a number of messages per period like '20/min', '500/day' or '5/10s' "
        "(units: s, min, hour, day), or empty for no limit"
    )
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidValue(f"is {kind(raw)}, not a rate", expected, BAD_RATE)
    try:
        return Rate.parse(raw)
    except ValueError:
        raise InvalidValue("is not a rate", expected, BAD_RATE) from None


def mcp_servers(raw: Any) -> "tuple[McpServerConfig, ...]":
    expected = (
        'a list of servers {"name": ..., "url": "https://.../mcp", "headers": {...}, '
        '"timeout": seconds} with unique names (headers and timeout optional); in the '
        "environment, that list as JSON"
    )
    if isinstance(raw, str):
        try:
            json.loads(raw)
        except ValueError as error:
            raise InvalidValue(f"is not JSON ({error})", expected, BAD_MCP_SERVERS) from None
    if not isinstance(raw, list | tuple):
        raise InvalidValue(f"is {kind(raw)}, not a list", expected, BAD_MCP_SERVERS)
    if not raw:
        return ()
    from chat.assistant.mcp import McpServerConfig

    configs = []
    for index, entry in enumerate(raw):
        try:
            configs.append(McpServerConfig.parse(entry))
        except ValueError as error:
            raise InvalidValue(
                f"has a bad entry [{index}]: {error}", expected, BAD_MCP_SERVERS
            ) from None
    names = [config.name for config in configs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidValue(
            f"names {', '.join(duplicates)} more than once", expected, BAD_MCP_SERVERS
        )
    return tuple(configs)


def import_callable(raw: Any, expected: str, check_id: str) -> Callable[..., Any]:
    """The callable a dotted-path setting names; InvalidValue saying what is wrong."""
    from django.utils.module_loading import import_string

    if not isinstance(raw, str) or not raw.strip():
        raise InvalidValue(f"is {kind(raw)}, not a dotted path", expected, check_id)
    try:
        found = import_string(raw.strip())
    except ImportError as error:
        raise InvalidValue(f"cannot be imported ({error})", expected, check_id) from None
    if not callable(found):
        raise InvalidValue(f"{raw.strip()} is not callable", expected, check_id)
    return found


def agent_factory(raw: Any) -> Callable[..., Any]:
    expected = "the dotted path of a callable (RequestContext) -> agents.Agent"
    return import_callable(raw, expected, BAD_AGENT)


# type "/" subtype, with a registered top-level type; no parameters, no wildcards.
MIME_TYPE = re.compile(
    r"^(application|audio|font|image|message|model|multipart|text|video)"
    r"/[a-z0-9][a-z0-9!#$&^_.+-]*$"
)


def mime_types(raw: Any) -> tuple[str, ...]:
    from chat.attachments.policy import EXTENSIONS

    expected = (
        "a list of MIME types like 'image/png' that this site (chat/attachments/policy.py) "
        "or the system's MIME table knows, comma-separated in the environment; "
        "empty for no attachments"
    )
    if not isinstance(raw, list | tuple):
        raise InvalidValue(f"is {kind(raw)}, not a list", expected, BAD_MIME_TYPES)
    types: list[str] = []
    for entry in raw:
        mime = entry.strip().lower() if isinstance(entry, str) else entry
        if not isinstance(mime, str) or not MIME_TYPE.match(mime):
            raise InvalidValue(f"has {short(entry)}, not a MIME type", expected, BAD_MIME_TYPES)
        if mime not in EXTENSIONS and not mimetypes.guess_all_extensions(mime):
            raise InvalidValue(f"has the unknown MIME type {mime!r}", expected, BAD_MIME_TYPES)
        if mime not in types:
            types.append(mime)
    return tuple(types)


PROMPT_KEYS = {"label", "prompt", "icon"}


def prompts(raw: Any) -> list[dict[str, str]]:
    """A list (not a tuple: the page's JSON compares equal to it) of start-screen prompts."""
    expected = 'a list of {"label": ..., "prompt": ..., "icon": ...} (icon optional)'
    if not isinstance(raw, list | tuple):
        raise InvalidValue(f"is {kind(raw)}, not a list", expected, BAD_PROMPTS)
    parsed = []
    for index, entry in enumerate(raw):
        fields = entry if isinstance(entry, dict) else {}
        if (
            not fields
            or set(fields) - PROMPT_KEYS
            or not all(isinstance(fields.get(key), str) for key in ("label", "prompt"))
            or not isinstance(fields.get("icon", ""), str)
        ):
            raise InvalidValue(f"has a bad entry [{index}]: {short(entry)}", expected, BAD_PROMPTS)
        parsed.append(dict(fields))
    return parsed


def model_prices(raw: Any) -> dict[str, tuple[float, float]]:
    """{"model": [input, output]}: US dollars per million tokens, for estimated costs."""
    expected = '{"model name": [input, output]} in US dollars per million tokens, e.g. ' \
        '{"gpt-4.1-mini": [0.4, 1.6]}'
    if not isinstance(raw, dict):
        raise InvalidValue(f"is {kind(raw)}, not a mapping", expected, BAD_PRICES)
    parsed = {}
    for name, pair in raw.items():
        numbers = pair if isinstance(pair, list | tuple) else ()
        if (
            not isinstance(name, str)
            or len(numbers) != 2
            or not all(
                isinstance(n, int | float) and not isinstance(n, bool) and 0 <= n < float("inf")
                for n in numbers
            )
        ):
            problem = f"has a bad entry {short(name)}: {short(pair)}"
            raise InvalidValue(problem, expected, BAD_PRICES)
        parsed[name] = (float(numbers[0]), float(numbers[1]))
    return parsed


# --- How environment variables read (chatsite/settings.py) ---


def from_environment(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """`convert`, keeping text it cannot convert as it is, for the check to report."""

    def read(value: str) -> Any:
        try:
            return convert(value.strip())
        except ValueError:
            return value

    return read


def on_or_off(value: str) -> Any:
    """1/0, true/false, yes/no, on/off; other text is kept for the check to report."""
    word = value.strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return True
    if word in {"0", "false", "no", "off"}:
        return False
    return value


def comma_separated(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


INTEGER = from_environment(int)
NUMBER = from_environment(float)
JSON = from_environment(json.loads)
TEXT = str
LIST = comma_separated
FLAG = on_or_off
