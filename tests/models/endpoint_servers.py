"""Misbehaving OpenAI-compatible endpoints for the failure tests (stdlib HTTP servers, each in a thread).

These are real HTTP servers on 127.0.0.1 that behave like the failures under test, not models: `error500`
answers every request with HTTP 500; `silent` accepts the connection and never answers; `recording` keeps
every request body it receives and answers a minimal valid chat completion, so a test can see what a provider
actually sent (the protocol check compares exactly that with the generate config).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = "<think>1+1</think><answer>\\boxed{2}</answer>"


class _Handler(BaseHTTPRequestHandler):
    mode = "error500"
    requests: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return {}

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # /v1/models, /metrics: nothing useful here
        self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        body = self._body()
        type(self).requests.append({"path": self.path, "body": body})
        if self.mode == "silent":
            time.sleep(3600)
            return
        if self.mode == "error500":
            self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
            return
        self._send(
            200,
            {
                "id": "cmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "local"),
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ANSWER}}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            },
        )


def serve(mode: str) -> tuple[ThreadingHTTPServer, list[dict[str, Any]]]:
    """Start a server of this mode on a free port; returns it and the list its requests are appended to."""
    handler = type(f"Handler_{mode}", (_Handler,), {"mode": mode, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler.requests


def base_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"
