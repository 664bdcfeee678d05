"""An offline model: the whole pipeline works with no API key and no network.

`DemoModel` is an Agents SDK `Model` that answers deterministically and streams its reply
word by word as Responses API events, exactly the shape a real provider streams, so the
ChatKit conversion, persistence, cancellation and history paths are all exercised.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from agents import Model, ModelResponse, ModelSettings, ModelTracing, Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

HOW_TO_CONFIGURE = (
    "To get real answers, set OPENAI_API_KEY (and optionally CHAT_MODEL) for OpenAI, or "
    "CHAT_MODEL_BASE_URL for an OpenAI-compatible server such as Ollama, vLLM or LM Studio, "
    "then restart the site."
)


def message_text(item: Any) -> str:
    """The text of a Responses input message, whatever shape its content takes."""
    content = item.get("content") if isinstance(item, dict) else None
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, dict) and part.get("type") in {"input_text", "output_text"}:
            parts.append(part.get("text", ""))
    return "".join(parts)


def user_messages(input: str | list[Any]) -> list[str]:
    """What the user typed, oldest first; context notes the SDK adds are not typed text."""
    if isinstance(input, str):
        return [input]
    texts = []
    for item in input:
        if isinstance(item, dict) and item.get("role") == "user":
            text = message_text(item)
            if text and not text.startswith(("Hidden context", "The user is referring")):
                texts.append(text)
    return texts


def demo_reply(input: str | list[Any]) -> str:
    said = user_messages(input)
    last = said[-1] if said else ""
    turn = len(said)
    return (
        f"This is the offline demo assistant (message {turn} of this conversation). "
        f"You said: “{last}”. {HOW_TO_CONFIGURE}"
    )


def count_tokens(text: str) -> int:
    """A stand-in for a tokenizer: one token per word is close enough for a demo's usage."""
    return len(text.split())


class DemoModel(Model):
    """Streams a deterministic reply; `word_delay` seconds between words."""

    def __init__(self, word_delay: float = 0.0) -> None:
        self.word_delay = word_delay

    def reply_for(self, input: str | list[Any]) -> str:
        return demo_reply(input)

    def usage_for(self, input: str | list[Any], reply: str) -> Usage:
        prompt = " ".join(user_messages(input))
        input_tokens, output_tokens = count_tokens(prompt), count_tokens(reply)
        return Usage(
            requests=1,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
        )

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        **kwargs: Any,
    ) -> ModelResponse:
        reply = self.reply_for(input)
        return ModelResponse(
            output=[output_message(f"msg_demo_{uuid.uuid4().hex}", reply)],
            usage=self.usage_for(input, reply),
            response_id=None,
        )

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        reply = self.reply_for(input)
        usage = self.usage_for(input, reply)
        item_id = f"msg_demo_{uuid.uuid4().hex}"
        seq = iter(range(1_000_000))

        yield ResponseCreatedEvent(
            type="response.created", response=response([]), sequence_number=next(seq)
        )
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=output_message(item_id, "", status="in_progress"),
            output_index=0,
            sequence_number=next(seq),
        )
        yield ResponseContentPartAddedEvent(
            type="response.content_part.added",
            item_id=item_id,
            output_index=0,
            content_index=0,
            part=ResponseOutputText(type="output_text", text="", annotations=[]),
            sequence_number=next(seq),
        )
        words = reply.split(" ")
        for index, word in enumerate(words):
            if self.word_delay:
                await asyncio.sleep(self.word_delay)
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=item_id,
                output_index=0,
                content_index=0,
                delta=word if index == 0 else f" {word}",
                logprobs=[],
                sequence_number=next(seq),
            )
        yield ResponseTextDoneEvent(
            type="response.output_text.done",
            item_id=item_id,
            output_index=0,
            content_index=0,
            text=reply,
            logprobs=[],
            sequence_number=next(seq),
        )
        yield ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=item_id,
            output_index=0,
            content_index=0,
            part=ResponseOutputText(type="output_text", text=reply, annotations=[]),
            sequence_number=next(seq),
        )
        message = output_message(item_id, reply)
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            item=message,
            output_index=0,
            sequence_number=next(seq),
        )
        yield ResponseCompletedEvent(
            type="response.completed",
            response=response([message], usage),
            sequence_number=next(seq),
        )


def output_message(item_id: str, text: str, status: str = "completed") -> ResponseOutputMessage:
    content = [ResponseOutputText(type="output_text", text=text, annotations=[])] if text else []
    return ResponseOutputMessage(
        id=item_id, type="message", role="assistant", status=status, content=content
    )


def response(output: list[Any], usage: Usage | None = None) -> Response:
    return Response(
        id=f"resp_demo_{uuid.uuid4().hex}",
        created_at=time.time(),
        model="offline-demo",
        object="response",
        output=output,
        parallel_tool_calls=False,
        tool_choice="auto",
        tools=[],
        usage=ResponseUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            total_tokens=usage.total_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        )
        if usage
        else None,
    )
