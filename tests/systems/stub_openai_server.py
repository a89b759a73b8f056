"""A deterministic OpenAI-compatible chat server (stdlib only) that answers planner/judge calls with MALFORMED text.

Used ONLY by the malformed-reply test: it tests k2bench's parsing and fallbacks, not a model, so a scripted
server is the honest tool (real models only misbehave by chance). The reply depends on the requested model
name (the "mode") and on which call it is (recognised from the authors' prompts):
  garbage        triage and judge replies are prose, no JSON at all
  wrong-types    triage {"is_hard_problem": "yes", ...}; judge {"better_index": 2, ...} (an index out of range)
  authors-key    triage valid JSON but 7 topics; plan reply without <plan> tags; judge {"index": 1} (the
                 authors' parser key, which our fixed prompt/schema do not ask for)
  digits-5000    a solver reply that boxes a 5,000-digit integer (issue 15: a degenerate digit run the grader
                 must score `error` without failing the task; tests/grading/test_error_status.py)
Anything else (a solver call) gets a short boxed answer. Usage is reported so accounting has numbers.

    python tests/systems/stub_openai_server.py 8019      # serves http://127.0.0.1:8019/v1
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLIES = {
    "garbage": {
        "triage": "This is a hard problem. I would search for number theory and combinatorics.",
        "plan": "<plan>Think about it.</plan>",
        "judge": "Response 1 is clearly better because it is more detailed.",
    },
    "wrong-types": {
        "triage": json.dumps({"is_hard_problem": "yes", "plan": "p", "search_list": ["a"]}),
        "plan": "<plan>Think about it.</plan>",
        "judge": json.dumps({"better_index": 2, "explanation": "the third one"}),
    },
    "authors-key": {
        "triage": json.dumps({"is_hard_problem": True, "plan": "p", "search_list": [f"topic {i}" for i in range(7)]}),
        "plan": "First factor the expression, then count the cases.",
        "judge": json.dumps({"index": 1, "explanation": "the authors' key"}),
    },
    "digits-5000": {"solver": "<think>Counting.</think> The answer is $\\boxed{" + "9" * 5000 + "}$."},
}


def kind_of(messages: list[dict]) -> str:
    text = " ".join(str(m.get("content", "")) for m in messages)
    if text.startswith("You are a strict evaluator"):
        return "judge"
    if "First determine if the user is asking a hard math" in text:
        return "triage"
    if "<topics>" in text and "Wrap your plan inside <plan></plan>" in text:
        return "plan"
    return "solver"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in REPLIES]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": "not found"})
            return
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        mode, kind = request.get("model", ""), kind_of(request.get("messages", []))
        content = REPLIES.get(mode, {}).get(kind, "<think>stub</think> The answer is \\boxed{7}.")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        completion_tokens = len(content.split())
        self._send(
            200,
            {
                "id": "stub-1",
                "object": "chat.completion",
                "created": 0,
                "model": mode,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )


def serve(port: int = 0) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the stub on 127.0.0.1 in a daemon thread; returns (server, thread); server.server_port is the port."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


if __name__ == "__main__":
    srv, _ = serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8019)
    print(f"stub on http://127.0.0.1:{srv.server_port}/v1", flush=True)
    threading.Event().wait()
