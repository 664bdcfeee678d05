"""The assistant: which agent and model answer (agent), its tools and how their calls show
(tools, tool_activity), MCP servers (mcp), history for the model (converter), the offline
demo model (demo_model), conversation search (search) and one turn's run (run)."""
