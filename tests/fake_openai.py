"""A chat-completions server on loopback, shaped like Ollama or vLLM.

It streams its answer in several chunks, as those servers do, and records every request
body so tests can check what the model was sent.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeChatCompletions:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_with: int | None = None
        self.hang_seconds = 0.0
        self.replies = iter(())
        # (model, audio bytes) of every /audio/transcriptions request.
        self.transcriptions: list[tuple[str, int]] = []

    def next_reply(self) -> str:
        return next(self.replies, f"Answer number {len(self.requests)} from the local model.")


def make_handler(state: FakeChatCompletions) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            if self.path.endswith("/audio/transcriptions"):
                self.transcribe(self.rfile.read(length))
                return
            state.requests.append(json.loads(self.rfile.read(length)))
            if state.hang_seconds:
                time.sleep(state.hang_seconds)
            if state.fail_with:
                self.send_json(state.fail_with, {"error": {"message": "nope", "type": "x"}})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            reply = state.next_reply()
            words = reply.split(" ")
            for index, word in enumerate(words):
                content = word if index == 0 else f" {word}"
                self.send_chunk({"role": "assistant", "content": content})
            self.send_chunk({}, finish_reason="stop")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def transcribe(self, body: bytes) -> None:
            """Like OpenAI's transcription route: multipart `model` and `file` in, text out."""
            head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
            fields = {
                part.get_param("name", header="content-disposition"): part
                for part in BytesParser(policy=default).parsebytes(head + body).iter_parts()
            }
            model = fields["model"].get_content().strip()
            audio = fields["file"].get_payload(decode=True)
            state.transcriptions.append((model, len(audio)))
            text = f"Transcribed {len(audio)} bytes of {fields['file'].get_content_type()}."
            self.send_json(200, {"text": text})

        def send_chunk(self, delta: dict, finish_reason: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-local",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "local-model",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()

        def send_json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def fake_chat_completions_server() -> Iterator[tuple[str, FakeChatCompletions]]:
    """Yields (base_url, state); the server stops when the block ends."""
    state = FakeChatCompletions()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", state
    finally:
        server.shutdown()
        server.server_close()
