"""Thread items -> model input, for the parts the SDK's default converter leaves open."""

from chatkit.agents import ThreadItemConverter
from chatkit.types import Attachment, UserMessageTagContent
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
