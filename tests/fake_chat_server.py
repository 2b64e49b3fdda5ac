"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 for judge tests (no network)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

Reply = Callable[[dict[str, Any], int], tuple[int, Any]]
"""(request {"path", "body", "auth"}, request number) -> (HTTP status, reply content).

A content of ``"sleep:<seconds>"`` makes the server wait that long, then answer 200 "0.1";
``"hang"`` never answers (until the server shuts down); ``bytes`` are sent verbatim as the body
(e.g. ``b"\xff\xfe"``, a reply that is not UTF-8).
"""


@contextmanager
def serve(reply: Reply, record: Callable[[dict[str, Any]], Any] = lambda request: request,
          base_path: str = "/v1", model: str = "fake-judge-1") -> Iterator[tuple[str, list[Any]]]:  # fmt: skip
    """Yield (base URL, list of ``record(request)`` for every request received so far)."""
    seen: list[Any] = []
    lock = threading.Lock()
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            request = {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            with lock:
                number = len(seen)
                seen.append(record(request))
            status, content = reply(request, number)
            if content == "hang":
                stop.wait()
                return
            if isinstance(content, str) and content.startswith("sleep:"):
                time.sleep(float(content[6:]))
                status, content = 200, "0.1"
            if isinstance(content, bytes):
                data = content
            else:
                payload = {"model": model, "choices": [{"message": {"content": content}}]} if status == 200 else {"error": "x"}
                data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that timed out and hung up (the timeout tests do that on purpose)

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{base_path}", seen
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
