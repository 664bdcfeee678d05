"""What an operator sees: JSON log lines, Prometheus metrics behind a token."""

import io
import json
import logging
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pythonjsonlogger.json import JsonFormatter

from chatsite.observability import logging_formatter
from tests.instances import ROOT, instance_environment

pytestmark = pytest.mark.django_db(transaction=True)


def samples(text: str) -> dict[tuple, float]:
    """Every sample of a Prometheus text body: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[tuple, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(async_client, token: str = "scrape-me") -> dict[tuple, float]:
    response = await async_client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return samples(response.content.decode())


async def test_metrics_do_not_exist_unless_a_token_is_set(async_client, settings):
    settings.METRICS_TOKEN = ""

    assert (await async_client.get("/metrics")).status_code == 404


async def test_metrics_need_the_token(async_client, settings):
    settings.METRICS_TOKEN = "scrape-me"

    anonymous = await async_client.get("/metrics")
    wrong = await async_client.get("/metrics", headers={"Authorization": "Bearer guess"})

    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert b"chat_" not in anonymous.content + wrong.content


async def test_metrics_count_requests_turns_first_tokens_and_tokens(
    async_client, settings, alice_chat
):
    settings.METRICS_TOKEN = "scrape-me"
    before = await scrape(async_client)

    await alice_chat.create_thread("Hello metrics")
    await async_client.get("/about/")
    after = await scrape(async_client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("chat_http_requests_total", method="GET", route="/about/", status="200") == 1
    assert grew("chat_http_requests_total", method="POST", route="/chatkit/", status="200") == 1
    assert grew("chat_turns_total", outcome="complete") == 1
    assert grew("chat_turn_duration_seconds_count") == 1
    assert grew("chat_time_to_first_token_seconds_count") == 1
    assert grew("chat_tokens_total", model="demo", direction="output") > 0
    assert value(after, "chat_open_streams") == 0  # the stream was read to its end


async def test_metrics_count_limit_refusals(async_client, settings, alice_chat):
    settings.METRICS_TOKEN = "scrape-me"
    settings.CHAT_RATE_LIMIT = "1/min"
    before = await scrape(async_client)

    await alice_chat.create_thread("one")
    refused = await alice_chat.post(
        {"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "two"}],
            "attachments": [], "inference_options": {}}}}
    )
    after = await scrape(async_client)

    assert refused.status_code == 429
    refusals = value(after, "chat_limit_refusals_total", route="/chatkit/") - value(
        before, "chat_limit_refusals_total", route="/chatkit/"
    )
    assert refusals == 1


@pytest.fixture
def json_log():
    """The request loggers' records as the production formatter writes them."""
    options = {key: value for key, value in logging_formatter("json").items() if key != "()"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(**options))
    loggers = [logging.getLogger("chatsite.requests"), logging.getLogger("chat.requests")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield stream
    for logger in loggers:
        logger.removeHandler(handler)


async def test_json_log_lines_parse_and_carry_the_request_and_the_turn(
    async_client, alice, alice_chat, json_log
):
    thread_id, _ = await alice_chat.create_thread("Hello logs")
    await async_client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    http = [line["http"] for line in lines if "http" in line]
    turns = [line["chatkit"] for line in lines if "chatkit" in line]
    assert {"logger", "level", "time", "message"} <= set(lines[0])
    assert [(entry["route"], entry["status"]) for entry in http] == [
        ("/chatkit/", 200),
        ("/", 200),
    ]
    assert http[1]["client"] == "127.0.0.1"  # never the X-Forwarded-For a client sent
    (turn,) = turns
    assert turn["user"] == alice.pk
    assert turn["thread"] == thread_id
    assert turn["type"] == "threads.create"
    assert turn["status"] == "200/complete"
    assert turn["model"] == "demo"
    assert turn["output_tokens"] > 0
    assert turn["duration_ms"] >= 0


SENTRY_PROBE = """
import sys
import django
django.setup()
loaded = "sentry_sdk" in sys.modules
active = loaded and __import__("sentry_sdk").get_client().is_active()
print(loaded, active)
"""


@pytest.mark.parametrize(
    "dsn, expected", [("", "False False"), ("http://key@127.0.0.1:9/1", "True True")]
)
def test_sentry_is_imported_and_started_only_with_a_dsn(dsn, expected):
    result = subprocess.run(
        [sys.executable, "-c", SENTRY_PROBE],
        capture_output=True, text=True, cwd=ROOT,
        env=instance_environment(SENTRY_DSN=dsn), timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
