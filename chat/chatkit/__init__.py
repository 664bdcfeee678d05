"""The ChatKit protocol on Django: the server (server), the ORM store (store), parsing and
authorising requests (requests), the endpoint's turn lifecycle (turns), server-sent events
(sse), what a request knows (context) and its log line (requestlog)."""
