"""What one ChatKit request knows about who is asking and from where."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class PageContext:
    """The page the user is on, as the client reported it (untrusted, already bounded)."""

    url: str = ""
    title: str = ""
    selection: str = ""


@dataclass
class TurnUsage:
    """What one turn used, written on the turn's record when it ends (`answered`: the
    model ran).

    While the model runs, `watch` points this at the run, and the record takes what the
    run has used whenever the turn ends: an SDK error can leave the answer's generator to
    be closed by the garbage collector after the turn has ended, and its tokens would
    otherwise be lost (and not count against the user's quota). The server settles the
    figures for good when the answer ends (`settle(final=True)`).
    """

    thread_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    # The model that answered (its CHAT_MODELS id, or CHAT_MODEL).
    model: str = ""
    answered: bool = False
    first_token_ms: int | None = None
    duration_ms: int | None = None
    # While the model runs: (input tokens, output tokens, model) so far, and its timing.
    run_usage: Callable[[], tuple[int, int, str]] | None = field(default=None, repr=False)
    timing: "TurnTiming | None" = field(default=None, repr=False)

    def watch(self, run_usage: Callable[[], tuple[int, int, str]], timing: "TurnTiming") -> None:
        self.answered = True
        self.run_usage, self.timing = run_usage, timing

    def settle(self, final: bool = False) -> None:
        """Take what the running model has used so far; `final`: the answer has ended, and
        these are its figures."""
        if self.run_usage is None or self.timing is None:
            return
        self.input_tokens, self.output_tokens, self.model = self.run_usage()
        timings = self.timing.fields()
        self.first_token_ms, self.duration_ms = timings["first_token_ms"], timings["duration_ms"]
        if final:
            self.run_usage = self.timing = None

    def turn_fields(self) -> dict[str, Any]:
        """The `Turn` columns that record what the turn used."""
        self.settle()
        return {
            "answered": self.answered,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "model": self.model[:100],
            "first_token_ms": self.first_token_ms,
            "duration_ms": self.duration_ms,
        }


@dataclass
class TurnTiming:
    """When a turn started and first showed answer text (a monotonic clock): what the
    insights page reports per turn, next to the model that answered."""

    started: float
    first_text: float | None = None

    def saw(self, answer_text: bool) -> None:
        if answer_text and self.first_text is None:
            self.first_text = time.monotonic()

    def fields(self) -> dict[str, Any]:
        """Time to first token and answer duration (ms), as the turn's record keeps them."""
        now = time.monotonic()
        first = None if self.first_text is None else round((self.first_text - self.started) * 1000)
        return {
            "first_token_ms": first,
            "duration_ms": round((now - self.started) * 1000),
        }


@dataclass(eq=False)
class RequestMemo:
    """What one request already read, so that no step of it reads it again: the threads
    it loaded (which proves they are the user's), and the newest items of a thread until
    the request itself changes them (chat/chatkit/store.py keeps both)."""

    threads: dict[str, Any] = field(default_factory=dict)
    # thread id -> (the limit read, the items newest first, whether more follow)
    newest_items: dict[str, tuple[int, list, bool]] = field(default_factory=dict)
    # Threads that had a turn recorded as running when loaded (chat/chatkit/recovery.py).
    turn_left_running: dict[str, bool] = field(default_factory=dict)
    # How many of a thread's newest items to read in the same query as the thread: a new
    # message's turn reads them next, as its history (0: the thread alone).
    items_with_thread: int = 0


@dataclass(frozen=True)
class RequestContext:
    """Passed to every Store and server call; the store scopes every query to `user`."""

    user: AbstractBaseUser
    page: PageContext = field(default_factory=PageContext)
    # Scheme and host the client reached, e.g. `https://example.com`: ChatKit needs
    # absolute preview and upload URLs. Empty when there is no HTTP request (commands).
    base_url: str = ""
    # The turn this request ran, if any, for its log line.
    usage: TurnUsage = field(default_factory=TurnUsage)
    # The id `threads.create` gives its new thread: chosen before the SDK runs, so the
    # turn can hold the thread's lease from the start (chat/chatkit/turns.py).
    new_thread_id: str = ""
    # What the user picked in the composer (inference_options), already checked against
    # CHAT_MODELS and CHAT_COMPOSER_TOOLS: a model id, and the agent tool to call.
    model_id: str = ""
    tool_choice: str = ""
    # Its title, from the message that creates it: stored with the thread's row at once.
    new_thread_title: str = ""
    # Reads this request made; shared by copies of the context (dataclasses.replace).
    memo: RequestMemo = field(default_factory=RequestMemo, compare=False, repr=False)

    @property
    def user_id(self) -> Any:
        return self.user.pk


# Bounds on what the client may say about its page; anything else is dropped, not an error.
PAGE_LIMITS = {"url": 2000, "title": 300, "selection": 4000}


def page_context_from(metadata: Any) -> PageContext:
    """The page context from a request's `metadata.page`, validated and bounded.

    The client controls this text: it is trimmed, cut to length, and a URL that is not
    http(s) is dropped. Malformed metadata yields an empty context, never an error.
    """
    page = metadata.get("page") if isinstance(metadata, dict) else None
    if not isinstance(page, dict):
        return PageContext()
    values = {}
    for name, limit in PAGE_LIMITS.items():
        value = page.get(name)
        values[name] = value.strip()[:limit] if isinstance(value, str) else ""
    if not values["url"].startswith(("http://", "https://")):
        values["url"] = ""
    return PageContext(**values)
