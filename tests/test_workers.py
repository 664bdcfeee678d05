"""Answers outlive the page, and the worker: real daphne processes (tests/daphne.py) killed,
terminated and side by side, on the test database (whichever DATABASE_URL names: a SQLite
file or PostgreSQL) and, where workers share turns, Redis (`shared_redis`).

Each worker's output is kept; the flows here are normal ones (stop, leave, restart), so a
worker must log no error, no traceback and no abandoned task on the way (`assert_quiet`).
"""

import asyncio
import json
import time

import pytest
import websockets.asyncio.client
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from chat.assistant.demo_model import demo_reply
from chat.chatkit.broadcast import LOST_TURN
from chat.models import Thread, ThreadItem, Turn
from chat.retention.purge import Selection, purge
from tests.chatkit_client import bearer, user_input
from tests.daphne import Response, Worker, request, start_workers
from tests.waits import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# Slow enough to act mid-answer (the demo answer is about 45 words: 4.5 s), checkpointed
# often, leases that run out within seconds.
SLOW = {
    "CHAT_DEMO_WORD_DELAY": "0.1",
    "CHAT_CHECKPOINT_SECONDS": "0.2",
    "CHAT_TURN_LEASE_SECONDS": "2",
}
FAST = {**SLOW, "CHAT_DEMO_WORD_DELAY": "0.01"}


class Workers:
    """The test's daphne workers; every one is stopped when the test ends."""

    def __init__(self, folder) -> None:
        self.folder = folder
        self.started: list[Worker] = []

    def start(self, **specs: dict[str, str]) -> list[Worker]:
        """`start(a=environment, b=environment)`: the workers, started side by side."""
        workers = start_workers(self.folder, specs)
        self.started += workers
        return workers

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


@pytest.fixture
def workers(transactional_db, tmp_path):
    """Stopped before the test database is flushed (this fixture depends on it)."""
    started = Workers(tmp_path)
    yield started
    started.stop_all()


def env(*environments: dict[str, str], **settings: str) -> dict[str, str]:
    """Environments merged left to right, then `settings`."""
    return {key: value for each in (*environments, settings) for key, value in each.items()}


def assert_quiet(*stopped: Worker) -> None:
    """Each worker, sent SIGTERM, exits by itself and logged no error on the way."""
    for worker in stopped:
        worker.terminate()
    for worker in stopped:
        assert worker.wait_exit(timeout=10) == 0, worker.log_tail()
        assert worker.problems() == [], worker.log_tail()


def full_answer(text: str, message_number: int = 1) -> str:
    """The demo answer to `text` as the conversation's message `message_number`."""
    return demo_reply([{"role": "user", "content": text}] * message_number)


def long_text(words: int) -> str:
    """A message whose demo answer (which repeats it) is `words` words longer."""
    return " ".join(f"word{index}" for index in range(words))


def deltas(events: list[dict]) -> str:
    return "".join(
        event["update"]["delta"]
        for event in events
        if event["type"] == "thread.item.updated" and event["update"]["type"].endswith("delta")
    )


def token_for(user) -> str:
    return str(AccessToken.for_user(user))


async def post(worker: Worker, user, body: dict) -> Response:
    return await request(worker, "POST", "/chatkit/", body=body, headers=bearer(user))


def create_body(text: str) -> dict:
    return {"type": "threads.create", "params": {"input": user_input(text)}}


async def create_thread(worker: Worker, user, text: str) -> Response:
    response = await post(worker, user, create_body(text))
    assert response.status == 200, response.headers
    return response


async def send_message(worker: Worker, user, thread_id: str, text: str) -> Response:
    return await post(
        worker,
        user,
        {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": user_input(text)},
        },
    )


async def resume(worker: Worker, user, thread_id: str) -> Response:
    return await request(
        worker, "GET", f"/chatkit/threads/{thread_id}/resume/", headers=bearer(user)
    )


async def stop(worker: Worker, user, thread_id: str) -> Response:
    return await request(
        worker, "POST", f"/chatkit/threads/{thread_id}/stop/", headers=bearer(user)
    )


async def read_until_words(response: Response, words: int, timeout: float = 10) -> str:
    """Read the stream until the answer so far has `words` words; returns the thread id."""
    async with asyncio.timeout(timeout):
        async for _ in response.sse():
            if len(deltas(response.events).split()) >= words:
                break
    return response.events[0]["thread"]["id"]


async def turn_of(thread_id: str) -> Turn:
    return await Turn.objects.filter(thread_id=thread_id).order_by("started_at").afirst()


async def answer_row(thread_id: str) -> ThreadItem | None:
    rows = ThreadItem.objects.filter(thread_id=thread_id, type="assistant_message")
    return await rows.order_by("id").afirst()


async def items_of(thread_id: str) -> list[tuple[str, str]]:
    rows = ThreadItem.objects.filter(thread_id=thread_id).order_by("created_at", "id")
    return [(row.type, row.text) async for row in rows]


def logged_outcomes(*logged: Worker) -> list[str]:
    """The outcome of every streamed request the workers logged (`200/complete`...)."""
    return [
        line.split("status=")[1].split()[0]
        for worker in logged
        for line in worker.log().splitlines()
        if "chat.requests" in line and "status=200/" in line
    ]


# --- kill -9 -------------------------------------------------------------------------------


async def test_a_killed_workers_partial_answers_are_kept_and_their_threads_go_on(
    workers, alice, shared_redis
):
    # Heartbeats every second: a lost turn's leases run out two to three seconds after the
    # kill, after the restarted worker's first sweep.
    crash = env(SLOW, shared_redis, CHAT_TURN_LEASE_SECONDS="3")
    a, b = workers.start(a=crash, b=crash)
    texts = ["survive the crash", "nobody comes back here"]
    streams = [await create_thread(a, alice, text) for text in texts]
    thread_ids = [await read_until_words(stream, 8) for stream in streams]
    follower = await resume(b, alice, thread_ids[1])
    assert follower.status == 200
    for thread_id in thread_ids:  # each answer so far is checkpointed (every 0.2 s)
        await wait_until(lambda t=thread_id: answer_row(t), timeout=15, what="a checkpoint")
    assert a.problems() == [], a.log_tail()

    a.kill()
    for stream in streams:
        stream.close()
    following = asyncio.create_task(follower.read_events(timeout=30))
    (restarted,) = workers.start(a2=env(crash, CHAT_DEMO_WORD_DELAY="0.01"))
    serving_since = time.monotonic()

    # The thread's turn lease died with the worker: the next message is answered.
    answer = await send_message(restarted, alice, thread_ids[0], "are you back?")
    assert answer.status == 200, await answer.json()
    events = await answer.read_events(timeout=15)
    assert time.monotonic() - serving_since < 5
    assert events[-1]["type"] != "error", events[-1]
    assert deltas(events) == full_answer("are you back?", 2)
    # The answer cut off by the crash is kept, and the model was told not to continue it
    # before it read the new message.
    items = await items_of(thread_ids[0])
    assert [kind for kind, _ in items] == [
        "user_message",
        "assistant_message",
        "sdk_hidden_context",
        "user_message",
        "assistant_message",
    ]
    assert "interrupted" in items[2][1]
    first_turn = await turn_of(thread_ids[0])
    assert first_turn.state == Turn.State.INTERRUPTED

    # Nobody writes to the other thread: a sweeper closes its turn, and the client that
    # followed it from the other worker is told, not left waiting.
    await wait_until(
        lambda: Turn.objects.filter(thread_id=thread_ids[1], state="interrupted").aexists(),
        timeout=30,
        what="the lost turn closed as interrupted",
    )
    followed = await following
    assert followed[0]["type"] == "thread.created"
    assert followed[-1]["type"] == "error" and followed[-1]["message"] == LOST_TURN
    assert full_answer(texts[1]).startswith(deltas(followed))
    for thread_id, text in zip(thread_ids, texts, strict=True):
        row = await answer_row(thread_id)
        assert row.partial  # as last checkpointed
        assert len(row.text.split()) >= 5
        assert full_answer(text).startswith(row.text) and row.text != full_answer(text)
    assert_quiet(restarted, b)


# --- SIGTERM ---------------------------------------------------------------------------------


async def test_sigterm_lets_a_running_answer_finish_then_the_worker_exits(workers, alice):
    text = "finish before you go"
    (a,) = workers.start(a=env(SLOW, CHAT_SHUTDOWN_GRACE_SECONDS="10"))
    stream = await create_thread(a, alice, text)
    thread_id = await read_until_words(stream, 5)

    a.terminate()
    refused = await post(a, alice, create_body("too late"))  # no new turns once told to stop
    events = await stream.read_events(timeout=30)

    assert refused.status == 503 and refused.headers["retry-after"] == "2"
    refused.close()
    assert events[-1]["type"] != "error", events[-1]
    assert deltas(events) == full_answer(text)
    assert a.wait_exit(timeout=15) == 0
    turn = await turn_of(thread_id)
    row = await answer_row(thread_id)
    assert turn.state == Turn.State.COMPLETE
    assert (row.text, row.partial) == (full_answer(text), False)
    assert a.problems() == [], a.log_tail()


async def test_sigterm_past_the_grace_period_interrupts_the_answer_and_frees_the_thread(
    workers, alice, shared_redis
):
    text = long_text(60)  # about ten seconds of answer
    # Leases that would outlive the test: the thread is free only if they were released.
    held = env(SLOW, shared_redis, CHAT_TURN_LEASE_SECONDS="60")
    a, b = workers.start(
        a=env(held, CHAT_SHUTDOWN_GRACE_SECONDS="0.5"),
        # A thread still taken, or a stream slot still held, would be a 429 at once.
        b=env(held, FAST, CHAT_TURN_WAIT_SECONDS="0", CHAT_MAX_CONCURRENT_STREAMS="1"),
    )
    stream = await create_thread(a, alice, text)
    thread_id = await read_until_words(stream, 5)

    a.terminate()
    events = await stream.read_events(timeout=15)

    assert a.wait_exit(timeout=15) == 0
    turn = await turn_of(thread_id)
    row = await answer_row(thread_id)
    assert turn.state == Turn.State.INTERRUPTED
    assert row.text == deltas(events)  # what the user saw is what is kept
    assert len(row.text.split()) >= 5
    assert full_answer(text).startswith(row.text) and row.text != full_answer(text)
    assert a.problems() == [], a.log_tail()
    answer = await send_message(b, alice, thread_id, "still there?")
    assert answer.status == 200, await answer.json()
    assert (await answer.read_events(timeout=15))[-1]["type"] != "error"
    assert_quiet(b)


# --- two workers -----------------------------------------------------------------------------


async def test_a_turn_on_one_worker_is_resumed_from_another_with_no_gap_or_duplicate(
    workers, alice, shared_redis
):
    text = "follow me across workers"
    a, b = workers.start(a=env(SLOW, shared_redis), b=env(SLOW, shared_redis))
    stream = await create_thread(a, alice, text)
    # Past one lease period (2 s): the turn's leases must have been renewed.
    thread_id = await read_until_words(stream, 25)

    resumed = await resume(b, alice, thread_id)
    assert resumed.status == 200
    assert resumed.headers["content-type"].startswith("text/event-stream")
    seen_by_b, seen_by_a = await asyncio.gather(
        resumed.read_events(timeout=30), stream.read_events(timeout=30)
    )

    assert seen_by_b == seen_by_a  # from the first event, each once, in order
    assert deltas(seen_by_b) == full_answer(text)
    assert (await turn_of(thread_id)).state == Turn.State.COMPLETE
    assert_quiet(a, b)


async def test_a_turn_on_one_worker_is_stopped_from_another(workers, alice, shared_redis):
    text = "stop me from elsewhere"
    a, b = workers.start(a=env(SLOW, shared_redis), b=env(SLOW, shared_redis))
    stream = await create_thread(a, alice, text)
    thread_id = await read_until_words(stream, 6)

    stopped = await stop(b, alice, thread_id)

    assert (stopped.status, await stopped.json()) == (200, {"stopped": True})
    events = await stream.read_events(timeout=15)  # A's stream ends
    turn = await turn_of(thread_id)
    row = await answer_row(thread_id)
    assert turn.state == Turn.State.STOPPED
    assert row.text == deltas(events)  # what the user saw is what is kept
    assert len(row.text.split()) >= 6
    assert full_answer(text).startswith(row.text) and row.text != full_answer(text)
    assert_quiet(a, b)
    assert logged_outcomes(a, b) == ["200/stopped"]


async def test_a_websocket_on_one_worker_hears_the_turns_of_another(
    workers, alice, shared_redis
):
    a, b = workers.start(
        a=env(SLOW, shared_redis, CHAT_DEMO_WORD_DELAY="0.03"), b=env(SLOW, shared_redis)
    )
    received = []
    async with (
        asyncio.timeout(20),
        websockets.asyncio.client.connect(
            f"ws://{b.host}/ws/chat/", origin=f"http://{b.host}"
        ) as socket,
    ):
        await socket.send(json.dumps({"type": "auth", "token": token_for(alice)}))
        assert json.loads(await socket.recv()) == {"type": "ready", "user_id": alice.pk}

        stream = await create_thread(a, alice, "tell the other tabs")
        thread_id = await read_until_words(stream, 3)
        await socket.send(json.dumps({"type": "turn.follow", "thread_id": thread_id}))
        seen_by_a = await stream.read_events()
        kinds = set()
        while not {"turn.finished", "turn.end"} <= kinds:
            received.append(json.loads(await socket.recv()))
            kinds.add(received[-1]["type"])

    notices = [m for m in received if m["type"] not in ("turn.event", "turn.end")]
    followed = [m["event"] for m in received if m["type"] == "turn.event"]
    about_it = [(n["type"], n.get("thread_id")) for n in notices]
    assert ("thread.created", thread_id) in about_it
    assert about_it.index(("turn.started", thread_id)) < about_it.index(
        ("turn.finished", thread_id)
    )
    assert notices[-1]["state"] == "complete"
    assert followed == seen_by_a  # turn.follow on B replays A's turn from its first event
    assert_quiet(a, b)


async def test_the_stream_limit_holds_across_workers(workers, alice, shared_redis):
    limits = env(SLOW, shared_redis, CHAT_MAX_CONCURRENT_STREAMS="2")
    a, b = workers.start(a=limits, b=limits)

    responses = await asyncio.gather(
        *(post(worker, alice, create_body(f"number {n}")) for n, worker in enumerate([a, b] * 5))
    )

    streaming = [response for response in responses if response.status == 200]
    refused = [response for response in responses if response.status != 200]
    assert len(streaming) == 2
    assert [response.status for response in refused] == [429] * 8
    assert all(int(response.headers["retry-after"]) >= 1 for response in refused)
    for response in refused:
        response.close()
    # Both answers stream at once (the demo answer takes seconds); stop them from A,
    # wherever they run.
    thread_ids = [await read_until_words(response, 2) for response in streaming]
    for thread_id in thread_ids:
        stopped = await stop(a, alice, thread_id)
        assert await stopped.json() == {"stopped": True}
    for response in streaming:
        await response.read_events(timeout=15)
    assert_quiet(a, b)
    assert logged_outcomes(a, b) == ["200/stopped"] * 2


# --- leaving mid-answer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "continue_after_disconnect, outcome",
    [("1", Turn.State.COMPLETE), ("0", Turn.State.STOPPED)],
)
async def test_leaving_mid_answer_logs_no_error(
    workers, alice, continue_after_disconnect, outcome
):
    (a,) = workers.start(
        a=env(
            SLOW,
            CHAT_DEMO_WORD_DELAY="0.03",
            CHAT_CONTINUE_AFTER_DISCONNECT=continue_after_disconnect,
        )
    )
    stream = await create_thread(a, alice, "I will leave")
    thread_id = await read_until_words(stream, 3)

    stream.close()

    await wait_until(
        lambda: Turn.objects.filter(thread_id=thread_id, state=outcome).aexists(),
        timeout=10,
        what=f"the turn {outcome}",
    )
    assert_quiet(a)
    assert logged_outcomes(a) == [f"200/{outcome}"]


async def test_a_user_deactivated_elsewhere_is_refused_by_a_worker_at_once(
    workers, alice, shared_redis
):
    """The worker keeps alice's row in the shared cache (accounts/user_cache.py); a save in
    another process (here, the test's, as the admin would) forgets it there."""
    (a,) = workers.start(a=env(shared_redis))
    listed = await post(a, alice, {"type": "threads.list", "params": {}})
    assert listed.status == 200
    listed.close()

    alice.is_active = False
    await alice.asave(update_fields=["is_active"])
    refused = await post(a, alice, {"type": "threads.list", "params": {}})

    assert refused.status == 401
    refused.close()


async def test_purging_a_users_threads_stops_their_answer_on_a_worker(
    workers, alice, shared_redis
):
    """`purge_threads --user` runs in a process of its own: the answer running on a worker
    is stopped through the shared channel layer, and has stored what it had, before the
    thread goes."""
    (a,) = workers.start(a=env(SLOW, shared_redis))
    stream = await create_thread(a, alice, "purge me while I answer")
    thread_id = await read_until_words(stream, 6)

    counts = await sync_to_async(purge)(Selection(owner_id=alice.pk), dry_run=False)

    assert counts.threads == 1
    await stream.read_events(timeout=15)  # the worker's stream ends
    turn = await Turn.objects.aget(user=alice)  # no longer naming its thread
    assert (turn.state, turn.thread_id, turn.answered) == (Turn.State.STOPPED, None, True)
    assert not await Thread.objects.filter(pk=thread_id).aexists()
    assert_quiet(a)
    assert logged_outcomes(a) == ["200/stopped"]
