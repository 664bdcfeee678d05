"""Property-based fuzzing of /chatkit/ from two users.

Whatever the body, valid-shaped or malformed: no 5xx, no traceback in the answer, and
never a byte of the other user's conversation.
"""

import json
import os

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chat.models import Thread, ThreadItem
from tests.chatkit_client import bearer, user_input

# Answers are written by their own task, on a connection of its own: they must commit.
pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "ALICE-SECRET-7731"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6,
)


def bodies(known_ids: list[str]) -> st.SearchStrategy[bytes]:
    """Mostly well-shaped requests naming real ids (the other user's among them), plus
    malformed ones: wrong types, unknown request types, random JSON and bytes."""
    real = st.sampled_from(known_ids)
    ids = st.one_of(real, real, real, st.text(max_size=30), json_values)
    inputs = st.one_of(st.builds(user_input, st.text(max_size=40)), json_values)
    pages = {"limit": st.integers(-5, 500), "after": ids, "order": st.sampled_from(
        ["asc", "desc", "sideways"])}
    params_by_type = {
        "threads.create": {"input": inputs},
        "threads.add_user_message": {"thread_id": ids, "input": inputs},
        "threads.get_by_id": {"thread_id": ids},
        "threads.delete": {"thread_id": ids},
        "threads.list": pages,
        "threads.update": {"thread_id": ids, "title": st.text(max_size=50)},
        "threads.retry_after_item": {"thread_id": ids, "item_id": ids},
        "items.list": {"thread_id": ids, **pages},
        "items.feedback": {"thread_id": ids, "item_ids": st.lists(ids, max_size=3),
                           "kind": st.sampled_from(["positive", "negative", "meh"])},
        "attachments.delete": {"attachment_id": ids},
        "attachments.create": {"name": st.text(max_size=20), "size": st.integers(-1, 10**9),
                               "mime_type": st.sampled_from(["image/png", "x/evil"])},
        "input.transcribe": {"audio_base64": st.text(max_size=10), "mime_type": st.text()},
    }
    shaped = st.one_of(
        *[
            st.fixed_dictionaries(
                {"type": st.just(kind), "params": st.fixed_dictionaries({}, optional=params)},
                optional={"metadata": json_values},
            )
            for kind, params in params_by_type.items()
        ]
    )
    wrong_type = st.fixed_dictionaries(
        {"type": st.text(max_size=20), "params": st.dictionaries(st.text(max_size=10), ids)}
    )
    encoded = st.one_of(shaped, shaped, shaped, wrong_type, json_values).map(
        lambda body: json.dumps(body).encode()
    )
    return st.one_of(encoded, encoded, encoded, st.binary(max_size=300))


async def read_all(chunks) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def post_and_read(user, body: bytes) -> tuple[int, bytes]:
    response = await AsyncClient().post(
        "/chatkit/", body, content_type="application/json", headers=bearer(user)
    )
    content = await read_all(response.streaming_content) if response.streaming else response.content
    return response.status_code, content


def post(user, body: bytes) -> tuple[int, bytes]:
    # One event loop for the request and the reading: a streamed answer is a task of it.
    return async_to_sync(post_and_read)(user, body)


def test_fuzzed_requests_never_fail_or_leak(alice_chat, bob, bob_chat, settings):
    settings.CHAT_RATE_LIMIT = ""
    alice_thread, _ = async_to_sync(alice_chat.create_thread)(SECRET)
    bob_thread, _ = async_to_sync(bob_chat.create_thread)("bob's own words")
    alice_items = list(
        ThreadItem.objects.filter(thread_id=alice_thread).values_list("item_id", "text")
    )
    known_ids = [alice_thread, bob_thread, *(item_id for item_id, _ in alice_items)]

    @given(body=bodies(known_ids))
    @hypothesis_settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def bob_sends(body: bytes) -> None:
        status, content = post(bob, body)
        assert status < 500, content
        assert b"Traceback" not in content
        assert SECRET.encode() not in content
        # Alice's conversation is exactly as she left it.
        assert Thread.objects.get(pk=alice_thread).title == SECRET
        assert list(
            ThreadItem.objects.filter(thread_id=alice_thread).values_list("item_id", "text")
        ) == alice_items

    bob_sends()


# --- uploads, the token API and the limits endpoint ---------------------------------------

boundaries = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=0, max_size=12
)


@st.composite
def multipart_bodies(draw) -> tuple[str, bytes]:
    """(Content-Type, body): multipart bodies, well formed or not, with odd names, headers
    and boundaries, plus bodies that are not multipart at all."""
    boundary = draw(boundaries)
    declared = draw(st.one_of(st.just(boundary), boundaries))
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["file", "file", "x", ""]) | st.text(max_size=8))
        filename = draw(st.none() | st.text(max_size=20))
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        headers = f"Content-Disposition: {disposition}\r\n"
        headers += draw(st.sampled_from(["", "Content-Type: text/plain\r\n", "Content-Type: \r\n"]))
        content = draw(st.binary(max_size=200))
        parts.append(f"--{boundary}\r\n{headers}\r\n".encode(errors="replace") + content + b"\r\n")
    ending = draw(st.sampled_from([f"--{boundary}--\r\n", "", f"--{boundary}"]))
    body = b"".join(parts) + ending.encode(errors="replace")
    content_type = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={declared}",
                "multipart/form-data",
                "application/x-www-form-urlencoded",
                "application/json",
            ]
        )
    )
    return content_type, draw(st.one_of(st.just(body), st.binary(max_size=300)))


token_bodies = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"username": json_values, "password": json_values, "refresh": json_values}
    ),
    json_values,
).map(lambda body: json.dumps(body).encode()) | st.binary(max_size=200)


async def send(method: str, path: str, body: bytes, content_type: str, headers: dict):
    response = await AsyncClient().generic(
        method, path, body, content_type=content_type, headers=headers
    )
    return response.status_code, response["Content-Type"], response.content


def test_fuzzed_uploads_token_and_limits_requests_answer_json_never_5xx(alice, settings):
    settings.AXES_ENABLED = False  # the fuzzer's failed logins must not lock the test out
    headers = bearer(alice)

    @given(
        upload=multipart_bodies(),
        token_body=token_bodies,
        token_path=st.sampled_from(["/api/token/", "/api/token/refresh/"]),
        authorization=st.one_of(
            st.just(headers["Authorization"]),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
        ),
    )
    @hypothesis_settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def fuzzed(upload, token_body, token_path, authorization) -> None:
        content_type, body = upload
        answers = [
            async_to_sync(send)("POST", "/chatkit/upload/", body, content_type, headers),
            async_to_sync(send)("POST", token_path, token_body, "application/json", {}),
            async_to_sync(send)(
                "GET", "/chatkit/limits/", b"", "", {"Authorization": authorization}
            ),
        ]
        for status, answer_type, content in answers:
            assert status < 500, content
            assert answer_type.startswith("application/json"), (status, content)
            assert b"Traceback" not in content

    fuzzed()
