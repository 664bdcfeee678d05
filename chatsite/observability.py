"""What an operator sees of a running site: JSON log lines, Prometheus metrics, Sentry.

- Logs: `LOG_FORMAT=json` (the production default) writes every log record as one JSON
  object per line (python-json-logger). Each HTTP request gets one line on the
  `chatsite.requests` logger (`http`: method, path, route, status, duration, client address;
  not the user: finding out would cost a session read in every request), and
  each ChatKit request and each turn gets one on `chat.requests` (`chatkit`:
  user, thread, type, status, duration, tokens, model; see chat/chatkit/requestlog.py).
- Metrics: `/metrics` in Prometheus' text format, only with `METRICS_TOKEN` set and sent
  as `Authorization: Bearer <token>` (404 otherwise). Each worker counts its own
  requests: scrape every worker, not the load balancer.
- Errors: with `SENTRY_DSN` set, unhandled exceptions go to Sentry (sentry-sdk, imported
  only then).
"""

import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from chatsite.middleware import AsyncMiddleware

request_logger = logging.getLogger("chatsite.requests")

REQUESTS = Counter(
    "chat_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
REQUEST_SECONDS = Histogram(
    "chat_http_request_duration_seconds", "Time to a response's headers", ["route"]
)
OPEN_STREAMS = Gauge("chat_open_streams", "Streamed responses (server-sent events) open now")
TURNS = Counter("chat_turns_total", "Answers (turns) ended, by outcome", ["outcome"])
TURN_SECONDS = Histogram(
    "chat_turn_duration_seconds",
    "Time from a turn's request to its end",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
FIRST_TOKEN_SECONDS = Histogram(
    "chat_time_to_first_token_seconds",
    "Time from a turn's request to the first text of its answer",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60),
)
TOKENS = Counter("chat_tokens_total", "Model tokens used", ["model", "direction"])
ERRORS = Counter("chat_errors_total", "Server errors: 5xx answers and failed turns", ["kind"])
LIMIT_REFUSALS = Counter(
    "chat_limit_refusals_total", "Requests refused by a limit (429)", ["route"]
)


# --- logs -------------------------------------------------------------------------------


def logging_formatter(log_format: str) -> dict[str, Any]:
    """The `formatters` entry for LOGGING: JSON lines, or plain text for a terminal."""
    if log_format == "json":
        return {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    return {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}


def client_address(request: HttpRequest) -> str:
    """The peer as daphne reports it: with `--proxy-headers`, the address nginx puts in
    X-Forwarded-For (the connecting client's, never one the client sent)."""
    return request.META.get("REMOTE_ADDR", "") or "-"


def route_of(request: HttpRequest) -> str:
    """A low-cardinality name for the path: the URL pattern, `static`, or `unmatched`."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return "/" + match.route
    if request.path_info.startswith(settings.STATIC_URL):
        return "static"
    return request.path_info if request.path_info in PROBE_PATHS else "unmatched"


PROBE_PATHS = {"/healthz/", "/readyz/", "/metrics"}


async def counted_stream(content: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A streamed body, counted in `chat_open_streams` while the client reads it."""
    OPEN_STREAMS.inc()
    try:
        async for chunk in content:
            yield chunk
    finally:
        OPEN_STREAMS.dec()


class RequestObservabilityMiddleware(AsyncMiddleware):
    """One log line and the request metrics for every HTTP request (probes at DEBUG)."""

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.monotonic()
        response = await self.get_response(request)
        seconds = time.monotonic() - started
        route = route_of(request)
        status = response.status_code
        REQUESTS.labels(request.method, route, str(status)).inc()
        REQUEST_SECONDS.labels(route).observe(seconds)
        if status >= 500:
            ERRORS.labels("http_5xx").inc()
        if status == 429:
            LIMIT_REFUSALS.labels(route).inc()
        if response.streaming and response.is_async:
            response.streaming_content = counted_stream(response.streaming_content)
        fields = {
            "method": request.method,
            "path": request.path_info,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000),
            "client": client_address(request),
        }
        level = logging.DEBUG if route in PROBE_PATHS else logging.INFO
        request_logger.log(
            level,
            "%s %s %s %sms",
            request.method,
            request.path_info,
            status,
            fields["duration_ms"],
            extra={"http": fields},
        )
        return response


# --- turns (called by chat/chatkit/runner.py) --------------------------------------------


def model_label() -> str:
    """The model answering, as the logs and metrics name it ("demo" for the offline one)."""
    from chat.conf import app_settings

    if app_settings.OPENAI_API_KEY or app_settings.MODEL_BASE_URL:
        return app_settings.MODEL
    return "demo"


def record_turn(
    outcome: str, seconds: float, first_token_seconds: float | None, tokens: tuple[int, int]
) -> None:
    """Count one ended turn: its outcome, duration, time to first token and tokens."""
    TURNS.labels(outcome).inc()
    TURN_SECONDS.observe(seconds)
    if first_token_seconds is not None:
        FIRST_TOKEN_SECONDS.observe(first_token_seconds)
    if outcome == "failed":
        ERRORS.labels("turn_failed").inc()
    model = model_label()
    input_tokens, output_tokens = tokens
    if input_tokens:
        TOKENS.labels(model, "input").inc(input_tokens)
    if output_tokens:
        TOKENS.labels(model, "output").inc(output_tokens)


# --- /metrics ----------------------------------------------------------------------------


async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for a scraper holding `METRICS_TOKEN` (404 when unset, so
    the endpoint does not exist unless the operator turns it on; 401 without the token)."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if not token:
        return HttpResponse(status=404)
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), token.encode()):
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


# --- Sentry ------------------------------------------------------------------------------


def init_sentry(dsn: str, environment: str, traces_sample_rate: float) -> None:
    """Report unhandled errors to Sentry. Called by the settings only when SENTRY_DSN is
    set, so sentry-sdk is imported only then; no personal data is sent."""
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
    )
