"""A minimal HTTP/1.1 server on trio streams: GET only, one request per connection.

Enough for JSON views and a Prometheus scrape, with no framework: the request head is read
with a size and time limit (a slow or hostile client cannot hold the node), the handler runs
on the node's event loop (it only reads in-memory state), and the connection is closed after
the response (`Connection: close`), so there is no keep-alive bookkeeping.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

import trio

log = logging.getLogger("beacon.api")

MAX_HEAD = 8192
READ_TIMEOUT = 5.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            413: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_response(doc: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(doc).encode() + b"\n")


Handler = Callable[[dict[str, str]], Response]


class HttpServer:
    """Routes are exact paths; a handler gets the query as a dict of single values."""

    def __init__(self, routes: dict[str, Handler], name: str = "http") -> None:
        self.routes = routes
        self.name = name
        self.port: Optional[int] = None

    async def serve(self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(READ_TIMEOUT) as scope:
                head = await self._read_head(stream)
            if scope.cancelled_caught:
                return
            if head is None:
                await self._send(stream, json_response({"error": "request head too large"}, 413))
                # Closing with unread input makes the kernel send RST, and the client may lose
                # our answer: end our side, then read (and drop) what is still coming, briefly.
                await stream.send_eof()
                with trio.move_on_after(1):
                    while await stream.receive_some(65536):
                        pass
                return
            await self._send(stream, self._dispatch(head))
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass
        finally:
            with trio.move_on_after(1):
                await stream.aclose()

    async def _read_head(self, stream: trio.SocketStream) -> Optional[bytes]:
        buf = b""
        while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
            if len(buf) > MAX_HEAD:
                return None
            chunk = await stream.receive_some(4096)
            if not chunk:
                break
            buf += chunk
        return buf

    def _dispatch(self, head: bytes) -> Response:
        try:
            request_line = head.split(b"\n", 1)[0].decode("latin-1").strip()
            parts = request_line.split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                return json_response({"error": "malformed request line"}, 400)
            method, target = parts[0], parts[1]
            if method != "GET":
                return json_response({"error": f"method {method} not allowed"}, 405)
            url = urlsplit(target)
            handler = self.routes.get(url.path.rstrip("/") or "/")
            if handler is None:
                return json_response({"error": f"no such path {url.path}", "paths": sorted(self.routes)}, 404)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            return handler(query)
        except HttpError as e:
            return json_response({"error": str(e)}, e.status)
        except Exception:  # noqa: BLE001 - a view bug is a 500, not a dead node
            log.exception("%s: request failed", self.name)
            return json_response({"error": "internal error"}, 500)

    async def _send(self, stream: trio.SocketStream, r: Response) -> None:
        head = (f"HTTP/1.1 {r.status} {_REASONS.get(r.status, 'Unknown')}\r\n"
                f"Content-Type: {r.content_type}\r\nContent-Length: {len(r.body)}\r\n"
                f"Connection: close\r\n\r\n").encode("latin-1")
        await stream.send_all(head + r.body)
