"""The assistant's built-in tools.

Tools receive the ChatKit `AgentContext` (whose `request_context` is the request's
`RequestContext`), so whatever they read is scoped to the user who asked.
"""

from agents import RunContextWrapper, function_tool
from chatkit.agents import AgentContext
from django.utils import timezone

from chat.assistant.search import search_conversations
from chat.context import RequestContext


@function_tool
async def search_my_conversations(
    ctx: RunContextWrapper[AgentContext[RequestContext]], query: str
) -> str:
    """Search the user's own earlier conversations for a word or phrase.

    Args:
        query: The word or phrase to look for.
    """
    agent_context = ctx.context
    matches = await search_conversations(
        agent_context.request_context.user_id,
        query,
        exclude_thread_id=agent_context.thread.id,
    )
    if not matches:
        return f"No earlier conversation mentions “{query}”."
    lines = [f"Found {len(matches)} match(es) for “{query}”:"]
    for match in matches:
        when = timezone.localtime(match.created_at).strftime("%Y-%m-%d")
        lines.append(f"- In “{match.thread_title}” ({when}): {match.excerpt}")
    return "\n".join(lines)


@function_tool
def current_time() -> str:
    """The current date and time on the server, with its time zone."""
    now = timezone.localtime()
    return now.strftime("%A %d %B %Y, %H:%M %Z") + f" (ISO {now.isoformat(timespec='seconds')})"


BUILTIN_TOOLS = [search_my_conversations, current_time]
