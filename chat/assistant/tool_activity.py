"""Show the agent's tool calls in the thread while they run.

Function tools (built-in and MCP alike) run inside the Agents SDK, where ChatKit does not
see them. These hooks add each call as a task of a workflow item, so the widget shows
"Calling search_my_conversations…" and its result, the item is stored with the thread,
and ChatKit's converter hands the result to the model on later turns.
"""

from typing import Any

from agents import Agent, RunContextWrapper, RunHooks, Tool
from chatkit.agents import AgentContext
from chatkit.types import CustomTask

RESULT_PREVIEW_CHARS = 1500


def preview(value: object, limit: int = RESULT_PREVIEW_CHARS) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


class ToolActivityHooks(RunHooks[AgentContext[Any]]):
    def __init__(self) -> None:
        # Task index of each running call, by call id, so results land on the right task.
        self.running: dict[str, int] = {}

    @staticmethod
    def call_id(context: RunContextWrapper[Any], tool: Tool) -> str:
        return getattr(context, "tool_call_id", None) or tool.name

    async def on_tool_start(
        self, context: RunContextWrapper[AgentContext[Any]], agent: Agent[Any], tool: Tool
    ) -> None:
        arguments = getattr(context, "tool_arguments", None) or ""
        task = CustomTask(
            title=f"Calling {tool.name}",
            content=f"Arguments: {preview(arguments, 300)}" if arguments.strip("{} ") else None,
            status_indicator="loading",
        )
        chat = context.context
        await chat.add_workflow_task(task)
        self.running[self.call_id(context, tool)] = len(chat.workflow_item.workflow.tasks) - 1

    async def on_tool_end(
        self,
        context: RunContextWrapper[AgentContext[Any]],
        agent: Agent[Any],
        tool: Tool,
        result: object,
    ) -> None:
        chat = context.context
        index = self.running.pop(self.call_id(context, tool), None)
        if chat.workflow_item is None or index is None:
            return
        task = CustomTask(
            title=f"Called {tool.name}",
            content=f"Result: {preview(result)}",
            status_indicator="complete",
        )
        await chat.update_workflow_task(task, index)
