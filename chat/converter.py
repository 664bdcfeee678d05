"""Thread items -> model input, for the parts the SDK's default converter leaves open."""

from agents import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import AssistantMessageItem, Attachment, UserMessageTagContent
from openai.types.responses import ResponseInputContentParam, ResponseInputTextParam


class SiteItemConverter(ThreadItemConverter):
    """Never fails a turn over content the model cannot take directly: it is described."""

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        return ResponseInputTextParam(
            type="input_text",
            text=f"[The user attached a file: {attachment.name} ({attachment.mime_type})]",
        )

    async def tag_to_message_content(
        self, tag: UserMessageTagContent
    ) -> ResponseInputContentParam:
        return ResponseInputTextParam(type="input_text", text=f"@{tag.text}: {tag.data}")

    async def assistant_message_to_input(self, item: AssistantMessageItem) -> TResponseInputItem:
        """Earlier answers as Responses *output* messages.

        The SDK's default is an "easy" input message holding output_text parts, which the
        Agents SDK's Chat Completions converter rejects, so every OpenAI-compatible
        provider (Ollama, vLLM, ...) failed from the second turn on. The output-message
        shape is valid input for both APIs.
        """
        return {
            "type": "message",
            "role": "assistant",
            "id": item.id,
            "status": "completed",
            "content": [
                {"type": "output_text", "text": part.text, "annotations": []}
                for part in item.content
            ],
        }
