"""The ChatKit protocol on Django: the server (server), the ORM store (store), parsing and
authorising requests (requests), the endpoint's turn lifecycle (turns), server-sent events
(sse), and a request's log line (requestlog)."""
