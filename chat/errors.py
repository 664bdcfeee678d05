"""One family of errors that a client can act on.

Services raise a `ChatError` subclass; views turn every one of them into the same JSON
answer (`{"detail": message}`, the status, the headers) in one place, `error_response`.
Anything that is not a `ChatError` is a bug or an outage and is handled as such.
"""

from django.http import JsonResponse
from django.utils.translation import gettext


class ChatError(Exception):
    """A refusal with an HTTP status, a message safe to show, and extra headers."""

    status = 400

    def __init__(
        self, message: str, *, status: int | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})


class BadRequest(ChatError):
    """The request is malformed or not supported; the message says which (400)."""


class NotFound(ChatError):
    """Missing, or someone else's: the two are never told apart (404)."""

    status = 404

    def __init__(self, message: str = "Not found."):
        super().__init__(message)


class AttachmentRejected(ChatError):
    """An upload the site refuses: 400, 409, 413 or 415, as `status` says."""

    def __init__(self, status: int, message: str):
        super().__init__(message, status=status)


class LimitExceeded(ChatError):
    """A limit was hit: 429 with `Retry-After: retry_after` (whole seconds, at least 1)."""

    status = 429

    def __init__(self, message: str, retry_after: float):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


class Unavailable(ChatError):
    """A dependency (the database, Redis) is down: 503, retry in a few seconds."""

    status = 503

    def __init__(self, message: str | None = None, retry_after: int = 5):
        message = message or gettext("The service is temporarily unavailable. Please retry.")
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class Restarting(Unavailable):
    """This worker is shutting down (SIGTERM) and takes no new turns: 503, retry in a moment
    (on another worker). Routine during every deploy, so not an error in the log."""

    def __init__(self) -> None:
        super().__init__(
            gettext("The server is restarting. Please retry in a moment."), retry_after=2
        )


def error_response(error: ChatError) -> JsonResponse:
    """The one JSON shape of every refusal."""
    response = JsonResponse({"detail": error.message}, status=error.status, headers=error.headers)
    if isinstance(error, Restarting):
        # Django logs every 5xx answer at ERROR unless the response says it was logged;
        # the request's own line (chat.requests, WARNING) records this one.
        response._has_been_logged = True
    return response
