"""A local stand-in for GitHub's REST API, speaking the real shapes of the endpoints
verifix uses, so tests run offline against the same code paths as production. It also
answers git's smart-HTTP requests with 404, recording them, so a test sees which headers
git sent to this host."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeGitHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self.rate_limited = False
        self.pulls: list[dict[str, Any]] = []  # opened through the API, or seeded
        self.posted_comments: list[tuple[str, int, str]] = []
        self.edits: list[tuple[int, str]] = []  # (comment id, new body)
        self.permissions: dict[str, str] = {}  # login -> admin, write, read, ...
        #: Answers given before the real one, first in first out: (path prefix, status,
        #: headers, payload), e.g. a 502, or a secondary rate limit's 403 with Retry-After.
        self.faults: list[tuple[str, int, dict[str, str], dict[str, Any]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Authorization")))
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                if self._fault():
                    return
                if owner.rate_limited:
                    self._send(
                        403,
                        {"message": "API rate limit exceeded"},
                        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1767225600"},
                    )
                elif len(parts) == 4 and parts[3] == "pulls":
                    self._send(200, owner.pulls)
                elif len(parts) == 6 and parts[3] == "collaborators":
                    role = owner.permissions.get(parts[4])
                    if role is None:
                        self._found(None)
                    else:
                        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
                        self._send(200, {"permission": legacy, "role_name": role})
                elif len(parts) == 3 and parts[0] == "repos":
                    self._found(owner.repos.get(f"{parts[1]}/{parts[2]}"))
                elif len(parts) == 5 and parts[3] == "issues":
                    self._found(owner.issues.get((f"{parts[1]}/{parts[2]}", int(parts[4]))))
                elif len(parts) == 6 and parts[5] == "comments":
                    key = (f"{parts[1]}/{parts[2]}", int(parts[4]))
                    query = parse_qs(url.query)
                    per_page = int(query.get("per_page", ["30"])[0])
                    per_page = min(per_page, 2)  # tiny pages, so paging is exercised
                    page = int(query.get("page", ["1"])[0])
                    items = owner.comments.get(key, [])
                    chunk = items[(page - 1) * per_page : page * per_page]
                    headers = {}
                    if page * per_page < len(items):
                        base = f"http://{self.headers['Host']}{url.path}"
                        headers["Link"] = f'<{base}?per_page=100&page={page + 1}>; rel="next"'
                    self._send(200, chunk, headers)
                else:
                    self._found(None)

            def do_POST(self) -> None:
                owner.requests.append((self.path, self.headers.get("Authorization")))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self._fault():
                    return
                parts = urlsplit(self.path).path.strip("/").split("/")
                if len(parts) == 4 and parts[3] == "pulls":
                    number = 100 + len(owner.pulls)
                    pull = {
                        **body,
                        "number": number,
                        "state": "open",
                        "head": {"ref": body["head"]},
                        "base": {"ref": body["base"]},
                        "html_url": f"https://github.com/{parts[1]}/{parts[2]}/pull/{number}",
                    }
                    owner.pulls.append(pull)
                    self._send(201, pull)
                elif len(parts) == 6 and parts[5] == "comments":
                    owner.posted_comments.append(
                        (f"{parts[1]}/{parts[2]}", int(parts[4]), body["body"])
                    )
                    number = len(owner.posted_comments)
                    url = f"https://github.com/{parts[1]}/{parts[2]}/issues/{parts[4]}#c{number}"
                    self._send(201, {"id": number, "html_url": url, "body": body["body"]})
                else:
                    self._found(None)

            def do_PATCH(self) -> None:
                owner.requests.append((self.path, self.headers.get("Authorization")))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self._fault():
                    return
                parts = urlsplit(self.path).path.strip("/").split("/")
                if len(parts) == 6 and parts[3] == "issues" and parts[4] == "comments":
                    owner.edits.append((int(parts[5]), body["body"]))
                    self._send(200, {"id": int(parts[5]), "body": body["body"]})
                else:
                    self._found(None)

            def _fault(self) -> bool:
                """Send the first fault queued for this path, if there is one."""
                for index, (prefix, status, headers, payload) in enumerate(owner.faults):
                    if self.path.startswith(prefix):
                        del owner.faults[index]
                        self._send(status, payload, headers)
                        return True
                return False

            def _found(self, payload: Any) -> None:
                if payload is None:
                    self._send(404, {"message": "Not Found"})
                else:
                    self._send(200, payload)

            def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail(
        self,
        prefix: str,
        status: int,
        headers: dict[str, str] | None = None,
        message: str = "Server Error",
    ) -> None:
        """Answer the next request whose path starts with ``prefix`` with ``status``."""
        self.faults.append((prefix, status, headers or {}, {"message": message}))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
