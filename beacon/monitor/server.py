"""The monitor's web server: the page, its static files, and what the page reads.

GET /                  the page (static/index.html)
GET /static/...        app.js, style.css, vendor/cytoscape.min.js (installed from npm, see Makefile)
GET /events            server-sent events: one "snapshot" first, then every model delta
GET /api/snapshot      the same snapshot as JSON (tests, scripts)
GET /api/block/0xROOT  one block's contents and its state root as each node reports it

Served like the node's API (beacon/api/server.py): Starlette on Hypercorn's trio worker,
127.0.0.1 by default, bounded per-page queues (a page that stops reading is dropped and
reconnects, getting a fresh snapshot).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import trio
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from beacon.api.common import ApiError, json_response
from beacon.api.server import make_app
from beacon.monitor.model import Model
from beacon.monitor.watcher import ApiFailure, NodeApi

log = logging.getLogger("beacon.monitor")

STATIC = Path(__file__).resolve().parent / "static"
VENDOR_JS = STATIC / "vendor" / "cytoscape.min.js"
MAX_QUEUE = 4096
MAX_PAGES = 32


def vendor_missing() -> Optional[str]:
    if VENDOR_JS.is_file():
        return None
    return (f"{VENDOR_JS} is missing: the drawing library is installed from npm by `make vendor` "
            "(npm pack cytoscape)")


class MonitorServer:
    def __init__(self, model: Model, apis: dict[str, NodeApi]) -> None:
        self.model = model
        self.apis = apis
        self.pages: list[trio.MemorySendChannel[Optional[bytes]]] = []
        model.listeners.append(self._on_delta)

    def _on_delta(self, doc: dict[str, Any]) -> None:
        frame = b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"
        for ch in list(self.pages):
            try:
                ch.send_nowait(frame)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                self.pages.remove(ch)
                ch.close()

    def app(self) -> Any:
        return make_app([
            Route("/", self.index, methods=["GET"]),
            Route("/events", self.events, methods=["GET"]),
            Route("/api/snapshot", self.snapshot, methods=["GET"]),
            Route("/api/block/{root}", self.block, methods=["GET"]),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ])

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def snapshot(self, request: Request) -> Response:
        return json_response(self.model.snapshot())

    async def events(self, request: Request) -> StreamingResponse:
        if len(self.pages) >= MAX_PAGES:
            raise ApiError(503, f"too many open pages (at most {MAX_PAGES})")
        send, receive = trio.open_memory_channel[Optional[bytes]](MAX_QUEUE)
        # The snapshot goes first, from the same point in the delta sequence.
        first = b"data: " + json.dumps(self.model.snapshot(), separators=(",", ":")).encode() + b"\n\n"
        self.pages.append(send)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield first
                while True:
                    frame: Optional[bytes] = None
                    with trio.move_on_after(10):
                        frame = await receive.receive()
                    yield frame if frame is not None else b": keepalive\n\n"
            except trio.EndOfChannel:
                return
            finally:
                if send in self.pages:
                    self.pages.remove(send)
                send.close()

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def block(self, request: Request) -> Response:
        root = request.path_params["root"]
        rec = self.model.blocks.get(root)
        if rec is None:
            raise ApiError(404, f"block {root[:80]} is not in the monitor's tree")
        order = sorted(rec.seen_by) + [n for n in self.apis if n not in rec.seen_by]
        block = None
        for name in order:
            if not self.model.nodes[name].online:
                continue
            try:
                block = await self.apis[name].data(f"/eth/v1/beacon/blocks/{root}")
                break
            except Exception:  # noqa: BLE001 - try the next node
                continue
        per_node: dict[str, Any] = {}
        claimed = rec.state_root

        async def ask(name: str) -> None:
            node = self.model.nodes[name]
            if name not in self.apis:
                per_node[name] = {"state_root": None, "note": "read through metrics only"}
                return
            if not node.online:
                per_node[name] = {"state_root": None, "note": "offline"}
                return
            try:
                with trio.fail_after(5):
                    got = await self.apis[name].data(f"/eth/v1/beacon/states/{claimed}/root")
                per_node[name] = {"state_root": got["root"], "match": got["root"] == claimed}
            except ApiFailure as e:
                per_node[name] = {"state_root": None, "note": "not known to this node" if e.status == 404 else str(e)}
            except Exception as e:  # noqa: BLE001 - timeouts, resets: said, not raised
                per_node[name] = {"state_root": None, "note": type(e).__name__}

        async with trio.open_nursery() as nursery:
            for name in self.model.nodes:
                nursery.start_soon(ask, name)
        return json_response({"root": rec.root, "slot": rec.slot, "parent": rec.parent, "lane": rec.lane,
                              "claimed_state_root": claimed, "seen_by": sorted(rec.seen_by),
                              "orphaned": rec.orphaned, "replay": rec.replay, "proposer": rec.proposer,
                              "block": block, "state_roots": per_node})
