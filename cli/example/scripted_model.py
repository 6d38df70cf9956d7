"""A local OpenAI-compatible chat server that answers from a script.

``verifix demo`` runs the repair loop against it, so a newcomer sees the whole loop with no
API key; the test suite points verifix at it (``--model openai/scripted --api-base URL``)
so litellm's real HTTP path runs end to end and no model provider is ever called. Every
request body is kept, so a test can check what verifix told the model.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedModel:
    """Replies are strings, or dicts: ``{"status": 500}`` for an error (with ``"headers"``
    to send, such as Retry-After), ``{"raw": "..."}`` for a body that is not JSON,
    ``{"text": ..., "usage": False}`` for a reply that reports no usage,
    ``"usage": {"prompt_tokens": ..., "completion_tokens": ...}`` for whatever usage a
    provider might claim, ``"delay": seconds`` to answer late; or a
    callable that makes the reply from the request body (see ``literal``)."""

    def __init__(self, replies: list[Any], prompt_tokens: int = 1000, completion_tokens: int = 200):
        self.replies = list(replies)
        self.requests: list[dict] = []
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                reply = owner.replies.pop(0) if owner.replies else "I have nothing more."
                if callable(reply):
                    reply = reply(body)
                if isinstance(reply, dict) and reply.get("delay"):
                    time.sleep(reply["delay"])
                if isinstance(reply, dict) and "raw" in reply:  # a body that is not JSON
                    data = reply["raw"].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if isinstance(reply, dict) and "status" in reply:
                    error = {"error": {"message": "scripted failure"}}
                    self._send(reply["status"], error, reply.get("headers", {}))
                    return
                text = reply["text"] if isinstance(reply, dict) else reply
                payload: dict[str, Any] = {
                    "id": f"chatcmpl-{len(owner.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                }
                claimed = reply.get("usage") if isinstance(reply, dict) else None
                if isinstance(claimed, dict):
                    payload["usage"] = {**claimed, "total_tokens": sum(claimed.values())}
                elif claimed is not False:
                    payload["usage"] = {
                        "prompt_tokens": owner.prompt_tokens,
                        "completion_tokens": owner.completion_tokens,
                        "total_tokens": owner.prompt_tokens + owner.completion_tokens,
                    }
                self._send(200, payload)

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that went away (Ctrl-C) is not the server's problem

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedModel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def user_messages(self, request: int) -> str:
        """Everything the user role said in request number ``request`` (0-based)."""
        return "\n".join(
            m["content"] for m in self.requests[request]["messages"] if m["role"] == "user"
        )


def literal(path: str, search: str, replace: str) -> Callable[[dict], str]:
    """A reply made the way a literal-minded model makes one: by copying the example block
    the system prompt shows, with the example's path and lines swapped for these. A prompt
    that stops showing a complete example gets prose back, which no parser reads, so the
    tests that use it fail when the prompt stops teaching the format."""

    def reply(body: dict) -> str:
        system = "\n".join(m["content"] for m in body["messages"] if m["role"] == "system")
        lines = system.splitlines()
        try:
            start = next(i for i, line in enumerate(lines) if line.startswith("<<<<<<<"))
            middle = next(i for i in range(start, len(lines)) if lines[i].startswith("======="))
            end = next(i for i in range(middle, len(lines)) if lines[i].startswith(">>>>>>>"))
        except StopIteration:
            return f"I would change {path}, replacing {search!r} with {replace!r}."
        return (
            f"Changing {path} as the issue asks.\n\n{path}\n{lines[start]}\n{search}"
            f"{lines[middle]}\n{replace}{lines[end]}\n"
        )

    return reply
