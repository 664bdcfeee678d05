"""How a turn's events reach its followers: a client's event stream gets them in few
writes when they come fast, the first at once; the websocket relay gets them one by one."""

import asyncio

from chat.chatkit.runner import TurnRunner


def idle_runner() -> TurnRunner:
    """A runner that is not running: its events are emitted by the test."""
    return TurnRunner(
        None, None, None, thread_id="thr_f", turn_id="turn_f", kind="threads.create",
        log=None, thread_exists=True,
    )


async def end(runner: TurnRunner) -> None:
    async with runner.changed:
        runner.finished = True
        runner.changed.notify_all()


async def followed(runner: TurnRunner, events: list[bytes], batched: bool) -> list[bytes]:
    """The pieces a follower reads while `events` are emitted as a fast model's are: the
    follower may run after each one. The first event is emitted alone and read first."""
    pieces: list[bytes] = []
    first_read = asyncio.Event()

    async def read() -> None:
        async for piece in runner.follow(batched=batched):
            pieces.append(piece)
            first_read.set()

    reader = asyncio.create_task(read())
    await runner.emit(events[0])
    await asyncio.wait_for(first_read.wait(), 5)
    for event in events[1:]:
        await runner.emit(event)
        await asyncio.sleep(0)
    await end(runner)
    await asyncio.wait_for(reader, 5)
    return pieces


EVENTS = [f"data: {n}\n\n".encode() for n in range(50)]


async def test_a_fast_answer_reaches_an_event_stream_in_few_writes_the_first_at_once():
    pieces = await followed(idle_runner(), EVENTS, batched=True)

    assert pieces[0] == EVENTS[0]  # not held back for the events after it
    assert b"".join(pieces) == b"".join(EVENTS)  # every event, once, in order
    assert len(pieces) < 10  # not one write per event


async def test_the_websocket_relay_gets_one_event_at_a_time():
    pieces = await followed(idle_runner(), EVENTS, batched=False)

    assert pieces == EVENTS


async def test_a_late_follower_gets_everything_so_far_in_one_piece():
    runner = idle_runner()
    for event in EVENTS[:10]:
        await runner.emit(event)
    await end(runner)

    assert [piece async for piece in runner.follow(batched=True)] == [b"".join(EVENTS[:10])]
