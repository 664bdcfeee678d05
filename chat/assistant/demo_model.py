"""An offline model: the whole pipeline works with no API key and no network.

`DemoModel` is an Agents SDK `Model` that answers deterministically and streams its reply
word by word as Responses API events, exactly the shape a real provider streams, so the
ChatKit conversion, persistence, cancellation and history paths are all exercised.
"""

import asyncio
import json
import re
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
    ResponseFunctionToolCall,
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


SEARCH_REQUEST = re.compile(r"search (?:my|our) (?:conversations|chats|history) for (.+)", re.I)
TIME_QUESTION = re.compile(r"\b(what time|time is it|current time|what day|today's date)\b", re.I)
JSON_OBJECT = re.compile(r"\{.*\}", re.S)


def tool_outputs_since_last_user_message(input: str | list[Any]) -> list[tuple[str, str]]:
    """(tool name, output) for the tool results this turn has produced so far."""
    if isinstance(input, str):
        return []
    names: dict[str, str] = {}
    outputs: list[tuple[str, str]] = []
    for item in input:
        if not isinstance(item, dict):
            continue
        if item.get("role") == "user":
            outputs = []
        elif item.get("type") == "function_call":
            names[item.get("call_id", "")] = item.get("name", "tool")
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else json.dumps(output)
            outputs.append((names.get(item.get("call_id", ""), "tool"), text))
    return outputs


def planned_tool_call(input: str | list[Any], tool_names: set[str]) -> tuple[str, dict] | None:
    """The tool a user's last message asks for, as (name, arguments), if it is available.

    "what time is it" calls current_time; "search my conversations for X" calls
    search_my_conversations; a message naming any other tool calls it with the JSON
    object in the message (if any) as arguments.
    """
    said = user_messages(input)
    if not said or tool_outputs_since_last_user_message(input):
        return None
    text = said[-1]
    if "current_time" in tool_names and TIME_QUESTION.search(text):
        return "current_time", {}
    search = SEARCH_REQUEST.search(text)
    if search and "search_my_conversations" in tool_names:
        return "search_my_conversations", {"query": search.group(1).strip(" \"'“”?.!")}
    for name in sorted(tool_names):
        if re.search(rf"\b{re.escape(name)}\b", text):
            found = JSON_OBJECT.search(text)
            try:
                arguments = json.loads(found.group(0)) if found else {}
            except json.JSONDecodeError:
                arguments = {}
            return name, arguments if isinstance(arguments, dict) else {}
    return None


def count_tokens(text: str) -> int:
    """A stand-in for a tokenizer: one token per word is close enough for a demo's usage."""
    return len(text.split())


class DemoModel(Model):
    """Streams a deterministic reply; `word_delay` seconds between words."""

    def __init__(self, word_delay: float = 0.0) -> None:
        self.word_delay = word_delay

    def reply_for(self, input: str | list[Any]) -> str:
        outputs = tool_outputs_since_last_user_message(input)
        if outputs:
            return " ".join(f"The {name} tool says: {text}" for name, text in outputs)
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
        call = planned_tool_call(input, {tool.name for tool in tools})
        if call is not None:
            return ModelResponse(
                output=[function_call(*call)], usage=self.usage_for(input, ""), response_id=None
            )
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
        seq = iter(range(1_000_000))
        call = planned_tool_call(input, {tool.name for tool in tools})
        if call is not None:
            for event in tool_call_events(*call, self.usage_for(input, ""), seq):
                yield event
            return

        reply = self.reply_for(input)
        usage = self.usage_for(input, reply)
        item_id = f"msg_demo_{uuid.uuid4().hex}"

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


def function_call(name: str, arguments: dict) -> ResponseFunctionToolCall:
    return ResponseFunctionToolCall(
        id=f"fc_demo_{uuid.uuid4().hex}",
        call_id=f"call_demo_{uuid.uuid4().hex}",
        type="function_call",
        name=name,
        arguments=json.dumps(arguments),
        status="completed",
    )


def tool_call_events(name: str, arguments: dict, usage: Usage, seq: Any) -> list[Any]:
    """The Responses events of a model turn that only calls one tool."""
    call = function_call(name, arguments)
    return [
        ResponseCreatedEvent(
            type="response.created", response=response([]), sequence_number=next(seq)
        ),
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=call.model_copy(update={"arguments": "", "status": "in_progress"}),
            output_index=0,
            sequence_number=next(seq),
        ),
        ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=call, output_index=0, sequence_number=next(seq)
        ),
        ResponseCompletedEvent(
            type="response.completed", response=response([call], usage), sequence_number=next(seq)
        ),
    ]


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
