"""One structured log line per ChatKit request, without message content.

Logged on the `chat.requests` logger: a `key=value` message for people, and the same
fields as `record.chatkit` for JSON log formatters.
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from chat.context import TurnUsage
from chatsite.observability import model_label

logger = logging.getLogger("chat.requests")


@dataclass
class RequestLog:
    started: float = field(default_factory=time.monotonic)
    user_id: Any = None
    request_type: str = "-"
    thread_id: str | None = None
    # Filled in when the answer's turn completes (see SiteChatKitServer.respond).
    usage: TurnUsage = field(default_factory=TurnUsage)

    def fields(self, status: int | str) -> dict[str, Any]:
        return {
            "user": self.user_id if self.user_id is not None else "-",
            "type": self.request_type,
            "thread": self.usage.thread_id or self.thread_id or "-",
            "status": status,
            "duration_ms": round((time.monotonic() - self.started) * 1000),
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "model": model_label(),
        }

    def emit(self, status: int | str) -> None:
        fields = self.fields(status)
        level = logging.WARNING if str(status).startswith("5") else logging.INFO
        message = " ".join(f"{key}={value}" for key, value in fields.items())
        logger.log(level, "chatkit %s", message, extra={"chatkit": fields})
