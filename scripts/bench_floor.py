"""The in-process floor: what the ChatKit SDK costs with nothing around it.

The SDK's own `ChatKitServer`, driven without HTTP (`process()` called directly, as a
FastAPI sample's route would), with an in-memory store, the site's offline demo model at
zero delay and two trivial tools, the way OpenAI's samples are written. Run by
scripts/bench.py in a process of its own (nothing of the site is imported here: the site
changes how the SDK parses requests), it prints one JSON line: CPU milliseconds per
streamed turn, per `items.list` and per `threads.list`.

    .venv/bin/python scripts/bench_floor.py --turns 200 --reads 500
"""

import argparse
import json
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import uvloop
from agents import Agent, RunConfig, Runner, function_tool
from chatkit.agents import AgentContext, simple_to_agent_input, stream_agent_response
from chatkit.server import ChatKitServer, StreamingResult
from chatkit.store import NotFoundError, Store
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata, UserMessageItem

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chat.assistant.demo_model import DemoModel  # (no Django in it)

HISTORY_ITEMS = 40  # as CHAT_HISTORY_ITEMS


class MemoryStore(Store[dict]):
    """Threads and items in dictionaries, as the samples keep them."""

    def __init__(self) -> None:
        self.threads: dict[str, ThreadMetadata] = {}
        self.items: dict[str, list[ThreadItem]] = {}
        self.attachments: dict[str, Attachment] = {}

    @staticmethod
    def page(rows: list, after: str | None, limit: int, order: str) -> Page:
        rows = rows if order == "asc" else list(reversed(rows))
        start = 0
        if after:
            start = next((n + 1 for n, row in enumerate(rows) if row.id == after), len(rows))
        data = rows[start : start + limit]
        has_more = start + limit < len(rows)
        return Page(data=data, has_more=has_more, after=data[-1].id if has_more else None)

    async def load_thread(self, thread_id: str, context: dict) -> ThreadMetadata:
        if thread_id not in self.threads:
            raise NotFoundError(thread_id)
        return self.threads[thread_id].model_copy()

    async def save_thread(self, thread: ThreadMetadata, context: dict) -> None:
        self.threads[thread.id] = ThreadMetadata(**thread.model_dump(exclude={"items"}))
        self.items.setdefault(thread.id, [])

    async def load_thread_items(self, thread_id, after, limit, order, context) -> Page:
        return self.page(self.items.get(thread_id, []), after, limit, order)

    async def load_threads(self, limit, after, order, context) -> Page:
        rows = sorted(self.threads.values(), key=lambda thread: thread.created_at)
        return self.page(rows, after, limit, order)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: dict) -> None:
        self.items.setdefault(thread_id, []).append(item)

    async def save_item(self, thread_id: str, item: ThreadItem, context: dict) -> None:
        rows = self.items.setdefault(thread_id, [])
        for n, row in enumerate(rows):
            if row.id == item.id:
                rows[n] = item
                return
        rows.append(item)

    async def load_item(self, thread_id: str, item_id: str, context: dict) -> ThreadItem:
        for row in self.items.get(thread_id, []):
            if row.id == item_id:
                return row
        raise NotFoundError(item_id)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: dict) -> None:
        self.items[thread_id] = [row for row in self.items.get(thread_id, []) if row.id != item_id]

    async def delete_thread(self, thread_id: str, context: dict) -> None:
        self.threads.pop(thread_id, None)
        self.items.pop(thread_id, None)

    async def save_attachment(self, attachment: Attachment, context: dict) -> None:
        self.attachments[attachment.id] = attachment

    async def load_attachment(self, attachment_id: str, context: dict) -> Attachment:
        return self.attachments[attachment_id]

    async def delete_attachment(self, attachment_id: str, context: dict) -> None:
        self.attachments.pop(attachment_id, None)


@function_tool
def current_time() -> str:
    """The current date and time."""
    return datetime.now().isoformat()


@function_tool
def search_notes(query: str) -> str:
    """Search the user's notes."""
    return f"Nothing found for {query}."


AGENT = Agent(
    name="Site assistant",
    instructions="You are a helpful assistant.",
    model=DemoModel(word_delay=0),
    tools=[current_time, search_notes],
)


class FloorServer(ChatKitServer[dict]):
    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: dict
    ) -> AsyncIterator:
        agent_context = AgentContext(thread=thread, store=self.store, request_context=context)
        page = await self.store.load_thread_items(thread.id, None, HISTORY_ITEMS, "desc", context)
        agent_input = await simple_to_agent_input(list(reversed(page.data)))
        # Tracing off, as the site runs it (chat/assistant/run.py).
        result = Runner.run_streamed(
            AGENT, agent_input, context=agent_context,
            run_config=RunConfig(tracing_disabled=True),
        )
        async for event in stream_agent_response(agent_context, result):
            yield event


def message(text: str) -> dict[str, Any]:
    return {"content": [{"type": "input_text", "text": text}], "attachments": [],
            "inference_options": {}}


async def streamed(server: FloorServer, body: dict) -> int:
    result = await server.process(json.dumps(body).encode(), {})
    assert isinstance(result, StreamingResult)
    return sum([1 async for _ in result])


def user_message(thread_id: str) -> dict[str, Any]:
    return {"type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": message("hello there")}}


async def measure(turns: int, reads: int, threads: int, warm_turns: int) -> dict[str, float]:
    server = FloorServer(MemoryStore())
    for n in range(threads):
        await streamed(server, {"type": "threads.create", "params": {"input": message(f"hi {n}")}})
    thread_ids = list(server.store.threads)
    # As the worker's threads are when it is measured: each with a full history window.
    for n in range(warm_turns * threads):
        await streamed(server, user_message(thread_ids[n % threads]))
    events = 0
    started = time.process_time()
    for n in range(turns):
        events += await streamed(server, user_message(thread_ids[n % threads]))
    turn_ms = (time.process_time() - started) * 1000 / turns
    figures = {"turn_ms": turn_ms, "events_per_turn": events / turns}
    for kind, params in (
        ("items.list", {"thread_id": thread_ids[0], "limit": 20}),
        ("threads.list", {"limit": 20}),
    ):
        body = json.dumps({"type": kind, "params": params}).encode()
        started = time.process_time()
        for _ in range(reads):
            await server.process(body, {})
        figures[f"{kind}_ms"] = (time.process_time() - started) * 1000 / reads
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--warm-turns", type=int, default=HISTORY_ITEMS // 2,
                        help="turns each thread takes before the timing starts")
    args = parser.parse_args()
    # On uvloop, as the site's workers run (chatsite/worker.py) and as uvicorn, which the
    # samples are served with, runs when it is installed: the same loop on both sides.
    print(json.dumps(uvloop.run(
        measure(args.turns, args.reads, args.threads, args.warm_turns)
    )))


if __name__ == "__main__":
    main()
