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
    ResponseOutputTextAnnotationAddedEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    ResponseUsage,
)
from openai.types.responses.response_output_text import AnnotationURLCitation
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


# User-role messages the ChatKit converter adds as context: not typed by the user.
CONTEXT_PREFIXES = (
    "Hidden context",
    "The user is referring",
    "# User-provided context",
    "A message was displayed to the user",
    "The following graphical UI widget",
    "The following image was generated",
)
STRUCTURED_PREFIX = "A structured input request"
TAGS_PREFIX = "# User-provided context"


def typed_text(item: dict) -> str:
    """What the user typed: the message's first text part (attachments come after it)."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    for part in content or []:
        if isinstance(part, dict) and part.get("type") == "input_text":
            return part.get("text", "")
    return ""


def kind_of(item: Any) -> str:
    """typed, structured (answers to a question), tags (@-mentions), context or other."""
    if not isinstance(item, dict) or item.get("role") != "user":
        return "other"
    text = typed_text(item)
    if text.startswith(STRUCTURED_PREFIX):
        return "structured"
    if text.startswith(TAGS_PREFIX):
        return "tags"
    if not text or text.startswith(CONTEXT_PREFIXES):
        return "context"
    return "typed"


def user_messages(input: str | list[Any]) -> list[str]:
    """What the user typed, oldest first; context notes the SDK adds are not typed text."""
    if isinstance(input, str):
        return [input]
    return [typed_text(item) for item in input if kind_of(item) == "typed"]


def last_user_turn(input: str | list[Any]) -> tuple[str, list[Any]]:
    """The kind of the user's latest contribution (typed or structured) and the user-role
    items from it on (the message and the context that came with it)."""
    if isinstance(input, str):
        return "typed", [{"role": "user", "content": input}]
    for index in range(len(input) - 1, -1, -1):
        kind = kind_of(input[index])
        if kind in {"typed", "structured"}:
            rest = [item for item in input[index:] if kind_of(item) != "other"]
            return kind, rest
    return "none", []


def attached(item: dict) -> list[str]:
    """How the demo describes each file sent with a message: its name, and what it holds."""
    described = []
    content = item.get("content")
    for part in (content if isinstance(content, list) else [])[1:]:
        if not isinstance(part, dict):
            continue
        text = part.get("text", "") if part.get("type") == "input_text" else ""
        file_text = ATTACHED_TEXT.match(text)
        image_note = ATTACHED_IMAGE.match(text)
        if file_text:
            excerpt = " ".join(file_text.group("body").split())[:60]
            described.append(f"{file_text.group('name')} (it begins “{excerpt}”)")
        elif image_note:
            described.append(f"the image {image_note.group('name')}")
        elif part.get("type") == "input_file":
            described.append(f"the document {part.get('filename') or 'file'}")
        elif text.startswith("[The user attached a file: "):
            described.append(text.removeprefix("[The user attached a file: ").split(" (")[0])
    return described


ATTACHED_TEXT = re.compile(
    r"^The user attached the file (?P<name>.+?) \(.*?\):\n<file [^>]*>\n(?P<body>.*)</file>$", re.S
)
ATTACHED_IMAGE = re.compile(r"^\[The user attached an image: (?P<name>.+?) \(")


def mentioned(items: list[Any]) -> list[str]:
    """The entities the user @-mentioned, from the tag context the converter adds."""
    names = []
    for item in items:
        if kind_of(item) != "tags":
            continue
        for part in item.get("content") or []:
            text = part.get("text", "") if isinstance(part, dict) else ""
            if text.startswith("<tag"):
                found = TAG_TITLE.search(text)
                names.append(found.group(1) if found else text)
    return names


TAG_TITLE = re.compile(r'title="([^"]*)"')


def demo_reply(input: str | list[Any], model_name: str | None = None) -> str:
    said = user_messages(input)
    turn = len(said)
    kind, items = last_user_turn(input)
    if kind == "structured":
        answers = typed_text(items[0]).split("<StructuredInput>")[-1].split("</StructuredInput>")[0]
        return f"Thank you for answering. I received: {' '.join(answers.split())}"
    last = typed_text(items[0]) if items else ""
    parts = [f"This is the offline demo assistant (message {turn} of this conversation)."]
    if model_name:
        parts.append(f"You picked the model “{model_name}”.")
    parts.append(f"You said: “{last}”.")
    files = attached(items[0]) if items else []
    if files:
        parts.append(f"You attached {', '.join(files)}.")
    tags = mentioned(items)
    if tags:
        parts.append(f"You mentioned {', '.join(tags)}.")
    parts.append(HOW_TO_CONFIGURE)
    return " ".join(parts)


SEARCH_REQUEST = re.compile(r"search (?:my|our) (?:conversations|chats|history) for (.+)", re.I)
TIME_QUESTION = re.compile(r"\b(what time|time is it|current time|what day|today's date)\b", re.I)
JSON_OBJECT = re.compile(r"\{.*\}", re.S)
THEME_REQUEST = re.compile(r"\b(?:switch|change|go) to (dark|light) (?:mode|theme)\b", re.I)
# The same in French (the start screen's prompts are sent in the page's language).
THEME_REQUEST_FR = re.compile(
    r"\b(?:passe|bascule) (?:en|au) (?:mode|thème) (sombre|clair)\b", re.I
)
FRENCH_THEMES = {"sombre": "dark", "clair": "light"}
# Phrases that make the demo call one of its tools (chat/assistant/demo_tools.py).
# Specific on purpose: everyday messages must not set them off.
DEMO_PHRASES = [
    (re.compile(r"\bshow me a (?:demo )?widget\b", re.I), "show_demo_widget"),
    (re.compile(r"\blet'?s celebrate\b", re.I), "celebrate"),
    (re.compile(r"\brun a long task\b", re.I), "long_task"),
    (re.compile(r"\bask me a question\b", re.I), "ask_preferences"),
    (re.compile(r"\bmontre-moi un widget\b", re.I), "show_demo_widget"),
    (re.compile(r"\bfaisons la fête\b", re.I), "celebrate"),
    (re.compile(r"\blance une tâche longue\b", re.I), "long_task"),
    (re.compile(r"\bpose-moi une question\b", re.I), "ask_preferences"),
]
# The phrase that makes the demo cite a source (URL annotations on its answer).
SOURCE_REQUEST = re.compile(r"\bcite (?:a|your|une|tes|vos) sources?\b", re.I)
DEMO_SOURCE = {"url": "https://docs.djangoproject.com/", "title": "Django documentation"}


def tool_outputs_since_last_user_message(input: str | list[Any]) -> list[tuple[str, str]]:
    """(tool name, output) for the tool results this turn has produced so far."""
    if isinstance(input, str):
        return []
    names: dict[str, str] = {}
    outputs: list[tuple[str, str]] = []
    for item in input:
        if not isinstance(item, dict):
            continue
        if kind_of(item) in {"typed", "structured"}:
            outputs = []
        elif item.get("type") == "function_call":
            names[item.get("call_id", "")] = item.get("name", "tool")
        elif item.get("type") == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else json.dumps(output)
            outputs.append((names.get(item.get("call_id", ""), "tool"), text))
    return outputs


def forced_tool(model_settings: ModelSettings | None, tool_names: set[str]) -> str | None:
    """The tool the turn's tool choice names (the user picked it in the composer)."""
    choice = getattr(model_settings, "tool_choice", None)
    if isinstance(choice, str) and choice in tool_names:
        return choice
    return None


def planned_tool_call(
    input: str | list[Any], tool_names: set[str], forced: str | None = None
) -> tuple[str, dict] | None:
    """The tool a user's last message asks for, as (name, arguments), if it is available.

    "what time is it" calls current_time; "search my conversations for X" calls
    search_my_conversations; "dark mode" calls switch_theme; the phrases of DEMO_PHRASES
    call the demo's tools; a message naming any other tool calls it with the JSON object
    in the message (if any) as arguments. A tool the user picked (`forced`) is called
    with the message as its query.
    """
    kind, items = last_user_turn(input)
    if kind != "typed" or tool_outputs_since_last_user_message(input):
        return None
    text = typed_text(items[0])
    if forced:
        return forced, {"query": text} if forced == "search_my_conversations" else {}
    if "current_time" in tool_names and TIME_QUESTION.search(text):
        return "current_time", {}
    search = SEARCH_REQUEST.search(text)
    if search and "search_my_conversations" in tool_names:
        return "search_my_conversations", {"query": search.group(1).strip(" \"'“”?.!")}
    theme = THEME_REQUEST.search(text)
    if theme and "switch_theme" in tool_names:
        return "switch_theme", {"theme": theme.group(1).lower()}
    theme = THEME_REQUEST_FR.search(text)
    if theme and "switch_theme" in tool_names:
        return "switch_theme", {"theme": FRENCH_THEMES[theme.group(1).lower()]}
    for phrase, name in DEMO_PHRASES:
        if name in tool_names and phrase.search(text):
            return name, {}
    for name in sorted(tool_names):
        if re.search(rf"\b{re.escape(name)}\b", text):
            found = JSON_OBJECT.search(text)
            try:
                arguments = json.loads(found.group(0)) if found else {}
            except json.JSONDecodeError:
                arguments = {}
            return name, arguments if isinstance(arguments, dict) else {}
    return None


def wants_sources(input: str | list[Any]) -> bool:
    kind, items = last_user_turn(input)
    return kind == "typed" and bool(SOURCE_REQUEST.search(typed_text(items[0])))


def count_tokens(text: str) -> int:
    """A stand-in for a tokenizer: one token per word is close enough for a demo's usage."""
    return len(text.split())


class DemoModel(Model):
    """Streams a deterministic reply; `word_delay` seconds between words. `model_name`:
    the model the user picked (CHAT_MODELS), which the reply names."""

    def __init__(self, word_delay: float = 0.0, model_name: str | None = None) -> None:
        self.word_delay = word_delay
        self.model_name = model_name
        # What Turn usage records as the model that answered.
        self.model = model_name or "offline-demo"

    def reply_for(self, input: str | list[Any]) -> str:
        outputs = tool_outputs_since_last_user_message(input)
        if outputs:
            return " ".join(f"The {name} tool says: {text}" for name, text in outputs)
        reply = demo_reply(input, self.model_name)
        if wants_sources(input):
            reply += f" Source: {DEMO_SOURCE['title']}."
        return reply

    def annotations_for(self, input: str | list[Any], reply: str) -> list[dict[str, Any]]:
        """A URL citation of the demo's source when the user asked for sources (as plain
        dicts: the Agents SDK copies events, and ChatKit re-validates annotations)."""
        if not wants_sources(input) or DEMO_SOURCE["title"] not in reply:
            return []
        start = reply.rindex(DEMO_SOURCE["title"])
        return [
            AnnotationURLCitation(
                type="url_citation",
                start_index=start,
                end_index=start + len(DEMO_SOURCE["title"]),
                **DEMO_SOURCE,
            ).model_dump()
        ]

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
        names = {tool.name for tool in tools}
        call = planned_tool_call(input, names, forced_tool(model_settings, names))
        if call is not None:
            return ModelResponse(
                output=[function_call(*call)], usage=self.usage_for(input, ""), response_id=None
            )
        reply = self.reply_for(input)
        return ModelResponse(
            output=[
                output_message(
                    f"msg_demo_{uuid.uuid4().hex}",
                    reply,
                    annotations=self.annotations_for(input, reply),
                )
            ],
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
        names = {tool.name for tool in tools}
        call = planned_tool_call(input, names, forced_tool(model_settings, names))
        if call is not None:
            for event in tool_call_events(*call, self.usage_for(input, ""), seq):
                yield event
            return

        reply = self.reply_for(input)
        usage = self.usage_for(input, reply)
        annotations = self.annotations_for(input, reply)
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
        for index, annotation in enumerate(annotations):
            yield annotation_added(item_id, index, annotation, next(seq))
        yield ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=item_id,
            output_index=0,
            content_index=0,
            part=ResponseOutputText(type="output_text", text=reply, annotations=annotations),
            sequence_number=next(seq),
        )
        message = output_message(item_id, reply, annotations=annotations)
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


def annotation_added(
    item_id: str, index: int, annotation: dict, sequence_number: int
) -> ResponseOutputTextAnnotationAddedEvent:
    """The event of one citation, its annotation left a plain dict: validated, it would
    become this event module's own annotation class, which ChatKit's converter rejects (a
    provider's stream reaches ChatKit as loosely typed, and converts)."""
    event = ResponseOutputTextAnnotationAddedEvent(
        type="response.output_text.annotation.added",
        item_id=item_id,
        output_index=0,
        content_index=0,
        annotation_index=index,
        annotation=None,
        sequence_number=sequence_number,
    )
    event.__dict__["annotation"] = annotation
    return event


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


def output_message(
    item_id: str, text: str, status: str = "completed", annotations: list | None = None
) -> ResponseOutputMessage:
    content = (
        [ResponseOutputText(type="output_text", text=text, annotations=annotations or [])]
        if text
        else []
    )
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
