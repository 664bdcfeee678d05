"""A model that goes silent is cut off (chat.assistant.run.Pump): after what it did send,
never because the reader took its time."""

import asyncio

import pytest

from chat.assistant.run import ModelSilent, Pump


async def stream_then_hang(items: list[str], hang: float):
    for item in items:
        yield item
    await asyncio.sleep(hang)
    yield "late"


async def read(pump: Pump, pause: float = 0.0) -> list[str]:
    got = []
    async for item in pump.items():
        got.append(item)
        await asyncio.sleep(pause)
    return got


async def test_a_stream_silent_too_long_ends_with_model_silent_after_its_items():
    pump = Pump(stream_then_hang(["a", "b"], hang=30), silence_seconds=0.2)
    got = []

    with pytest.raises(ModelSilent):
        async for item in pump.items():
            got.append(item)

    assert got == ["a", "b"]
    await pump.wind_down(0.1)
    assert pump.task.done()


async def test_a_slow_reader_of_a_stream_that_keeps_talking_is_not_cut_off():
    async def steady():
        for n in range(6):
            await asyncio.sleep(0.05)
            yield str(n)

    pump = Pump(steady(), silence_seconds=0.2)

    # The reader spends longer on each item than the silence allowed: only the stream's
    # own pauses count.
    assert await read(pump, pause=0.25) == [str(n) for n in range(6)]


async def test_pauses_shorter_than_the_limit_are_not_silence():
    pump = Pump(stream_then_hang(["a"], hang=0.1), silence_seconds=0.3)

    assert await read(pump) == ["a", "late"]
