"""Serving the API: a Starlette app on Hypercorn's trio worker, inside the node's nursery.

    app = make_app(routes)                       # Starlette, standard error JSON
    port = await nursery.start(serve, app, "127.0.0.1", 5052, "api")

Guarantees kept from the hand-written server this replaces:
- bound to the address given (127.0.0.1 by default, see NodeOptions);
- a slow or hostile client cannot hold the node: request heads over MAX_HEAD bytes are refused
  by the HTTP parser, a connection that has not sent a whole request within KEEP_ALIVE seconds
  is closed (Hypercorn's idle timer runs from accept until the request head is complete, and
  between requests), request bodies over MAX_BODY are refused (413: only the few POSTs of
  beacon/api/ops.py take a body, a small JSON object), and
  event-stream subscribers have bounded queues (beacon/api/events.py);
- every error is `{"code", "message"}` JSON; a handler bug is a 500 and one log line, never a
  dead node.
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Any, Sequence

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from beacon.api.common import ApiError, error_response

log = logging.getLogger("beacon.api")

MAX_HEAD = 8192
MAX_BODY = 1024
KEEP_ALIVE = 5.0


class _Limits:
    """ASGI middleware: no request bodies beyond MAX_BODY (answered 413 before any read)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length", b"0")
            chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
            too_big = chunked or not length.isdigit() or int(length) > MAX_BODY
            if too_big:
                await error_response(413, f"request body too large (at most {MAX_BODY} bytes)")(
                    scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"no such path {request.url.path[:200]}")
    if exc.status_code == 405:
        return error_response(405, f"method {request.method} not allowed on {request.url.path[:200]}")
    return error_response(exc.status_code, str(exc.detail))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed: %s: %s", request.method, request.url.path[:200], type(exc).__name__, exc,
              exc_info=exc)
    return error_response(500, "internal error")


def make_app(routes: Sequence[BaseRoute]) -> Any:
    app = Starlette(routes=list(routes), exception_handlers={
        ApiError: _api_error, HTTPException: _http_error, Exception: _internal_error})
    return _Limits(app)


def hypercorn_config(host: str, port: int) -> HypercornConfig:
    cfg = HypercornConfig()
    cfg.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    cfg.keep_alive_timeout = KEEP_ALIVE
    cfg.h11_max_incomplete_size = MAX_HEAD
    cfg.graceful_timeout = 1.0
    cfg.accesslog = None
    cfg.errorlog = logging.getLogger("hypercorn.error")
    cfg.include_server_header = False
    return cfg


async def serve(app: Any, host: str, port: int, name: str = "api", *,
                task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `app` until cancelled; task_status gets the bound port (useful with port 0)."""
    cfg = hypercorn_config(host, port)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn_serve, app, cfg))
        task_status.started(int(binds[0].rsplit(":", 1)[1]))
