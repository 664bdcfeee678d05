"""Model providers other than the demo model, against servers on loopback."""

import pytest

from chat.models import ThreadItem
from tests.chatkit_client import assistant_text
from tests.fake_openai import fake_chat_completions_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def local_model(settings):
    with fake_chat_completions_server() as (base_url, state):
        settings.CHAT_MODEL_BASE_URL = base_url
        settings.CHAT_MODEL = "local-model"
        yield state


def message_texts(request: dict) -> list[tuple[str, str]]:
    def text(content) -> str:
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content or [])

    return [(m["role"], text(m.get("content"))) for m in request["messages"]]


async def test_openai_compatible_server_answers_and_keeps_both_answers(alice_chat, local_model):
    thread_id, first = await alice_chat.create_thread("What is 2+2?")
    second = await alice_chat.send(thread_id, "And 3+3?")

    assert assistant_text(first) == "Answer number 1 from the local model."
    assert assistant_text(second) == "Answer number 2 from the local model."
    rows = [row async for row in ThreadItem.objects.filter(thread_id=thread_id)]
    assert [(row.type, row.text) for row in rows] == [
        ("user_message", "What is 2+2?"),
        ("assistant_message", "Answer number 1 from the local model."),
        ("user_message", "And 3+3?"),
        ("assistant_message", "Answer number 2 from the local model."),
    ]
    # The provider called every item __fake_id__; the store gave each its own id.
    assert len({row.item_id for row in rows}) == 4
    assert all(row.item_id != "__fake_id__" for row in rows)


async def test_second_request_carries_the_first_turn_as_history(alice_chat, local_model):
    thread_id, _ = await alice_chat.create_thread("What is 2+2?")
    await alice_chat.send(thread_id, "And 3+3?")

    assert local_model.requests[0]["model"] == "local-model"
    history = message_texts(local_model.requests[1])
    assert ("user", "What is 2+2?") in history
    assert ("assistant", "Answer number 1 from the local model.") in history
    assert history[-1] == ("user", "And 3+3?")


@pytest.mark.parametrize(
    "status, words",
    [(401, "rejected its API key"), (429, "rate limited"), (500, "internal error")],
)
async def test_provider_failure_is_an_error_event_and_keeps_the_message(
    alice_chat, local_model, settings, status, words
):
    local_model.fail_with = status

    thread_id, events = await alice_chat.create_thread("Are you there?")

    error = events[-1] if events[-1]["type"] == "error" else next(
        e for e in events if e["type"] == "error"
    )
    assert words in error["message"]
    assert error["allow_retry"] is True
    rows = [row async for row in ThreadItem.objects.filter(thread_id=thread_id)]
    assert [(row.type, row.text) for row in rows] == [("user_message", "Are you there?")]

    local_model.fail_with = None
    user_item = next(e["item"] for e in events if e["type"] == "thread.item.done")
    retried = await alice_chat.stream(
        "threads.retry_after_item", thread_id=thread_id, item_id=user_item["id"]
    )
    assert "from the local model" in assistant_text(retried)


async def test_unreachable_provider_is_explained(alice_chat, settings):
    settings.CHAT_MODEL_BASE_URL = "http://127.0.0.1:9/v1"  # discard port: connection refused

    _, events = await alice_chat.create_thread("Hello?")

    error = next(e for e in events if e["type"] == "error")
    assert "could not reach its model provider" in error["message"]


async def test_a_french_user_reads_the_provider_failure_in_french(alice_chat, local_model):
    """The error event is written in the language the request asked for (as the pages are):
    the built-in client and the widget show its message as it is."""
    local_model.fail_with = 429
    alice_chat.headers = {**alice_chat.headers, "Accept-Language": "fr"}

    _, events = await alice_chat.create_thread("Tu es là ?")

    error = next(e for e in events if e["type"] == "error")
    assert "est saturé (limite de débit)" in error["message"]
