"""GET /eth/v1/events?topics=head,block,...: chain events as server-sent events.

Topics: head, block, attestation, finalized_checkpoint, chain_reorg. The chain calls our
callbacks synchronously inside an import; each callback turns the event into one small JSON
document (only for topics somebody listens to) and offers it to every subscriber's bounded
queue without waiting. A subscriber that falls MAX_QUEUE events behind is dropped (its
stream ends; it reconnects), so a slow reader never holds the chain or grows our memory.
"""
from __future__ import annotations

import json
import logging
from typing import Any, AsyncIterator, Optional

import trio
from starlette.requests import Request
from starlette.responses import StreamingResponse

from beacon.api.common import ApiError, hex_root, ssz_obj

log = logging.getLogger("beacon.api")

TOPICS = ("head", "block", "attestation", "finalized_checkpoint", "chain_reorg")
MAX_QUEUE = 1024
MAX_SUBSCRIBERS = 64
KEEPALIVE = 10.0  # seconds between comment lines: proxies and dead peers show up


class _Subscriber:
    def __init__(self, topics: set[str]) -> None:
        self.topics = topics
        self.send, self.receive = trio.open_memory_channel[Optional[bytes]](MAX_QUEUE)
        self.dropped = False


class EventStream:
    """Fans chain events out to SSE subscribers (`chain` is the Chain or NodeChain)."""

    def __init__(self, chain: Any, config: Any) -> None:
        self.chain = chain
        self.config = config
        self.subscribers: list[_Subscriber] = []
        chain.events.subscribe("head", self._on_head)
        chain.events.subscribe("block", self._on_block)
        chain.events.subscribe("finalized", self._on_finalized)
        chain.events.subscribe("attestation", self._on_attestation)

    # --- chain callbacks (synchronous, inside an import) -------------------------------------
    def _wanted(self, topic: str) -> bool:
        return any(topic in s.topics for s in self.subscribers)

    def _publish(self, topic: str, doc: dict[str, Any]) -> None:
        frame = f"event: {topic}\ndata: {json.dumps(doc, separators=(',', ':'))}\n\n".encode()
        for sub in list(self.subscribers):
            if topic not in sub.topics:
                continue
            try:
                sub.send.send_nowait(frame)
            except trio.WouldBlock:
                sub.dropped = True
                self._remove(sub)
                log.info("events: dropped a subscriber %d events behind", MAX_QUEUE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._remove(sub)

    def _state_root(self, block_root: bytes) -> str:
        try:
            return hex_root(self.chain.state_at_block(block_root).hash_tree_root())
        except KeyError:
            info = self.chain.db.get_block_info(block_root)
            return hex_root(info.state_root) if info is not None else "0x" + "00" * 32

    def _on_head(self, ev: Any) -> None:
        if not (self._wanted("head") or (ev.reorg_depth and self._wanted("chain_reorg"))):
            return
        spe = self.config.SLOTS_PER_EPOCH
        state = self._state_root(ev.root)
        prev_info = self.chain.db.get_block_info(ev.previous_root)
        prev_slot = prev_info.slot if prev_info is not None else ev.slot
        self._publish("head", {"slot": str(ev.slot), "block": hex_root(ev.root), "state": state,
                               "epoch_transition": prev_slot // spe != ev.slot // spe,
                               "previous_head": hex_root(ev.previous_root)})
        if ev.reorg_depth:
            self._publish("chain_reorg", {
                "slot": str(ev.slot), "depth": str(ev.reorg_depth), "old_head_block": hex_root(ev.previous_root),
                "new_head_block": hex_root(ev.root), "old_head_state": hex_root(prev_info.state_root) if prev_info else "",
                "new_head_state": state, "epoch": str(ev.slot // spe)})

    def _on_block(self, payload: Any) -> None:
        if self._wanted("block"):
            root, block = payload
            self._publish("block", {"slot": str(int(block.slot)), "block": hex_root(root),
                                    "parent_root": hex_root(block.parent_root)})

    def _on_finalized(self, cp: Any) -> None:
        if self._wanted("finalized_checkpoint"):
            info = self.chain.db.get_block_info(bytes(cp.root))
            self._publish("finalized_checkpoint", {"block": hex_root(cp.root), "epoch": str(int(cp.epoch)),
                                                   "state": hex_root(info.state_root) if info else ""})

    def _on_attestation(self, attestation: Any) -> None:
        if self._wanted("attestation"):
            self._publish("attestation", ssz_obj(attestation))

    # --- subscribers -------------------------------------------------------------------------
    def _remove(self, sub: _Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)
        sub.send.close()

    async def endpoint(self, request: Request) -> StreamingResponse:
        unknown = sorted(set(request.query_params) - {"topics"})
        if unknown:
            raise ApiError(400, f"unknown query parameter(s) {', '.join(unknown)[:120]}; allowed: topics")
        topics: set[str] = set()
        for value in request.query_params.getlist("topics"):
            topics.update(t.strip() for t in value.split(",") if t.strip())
        if not topics:
            raise ApiError(400, f"give ?topics= one or more of {', '.join(TOPICS)}")
        bad = sorted(topics - set(TOPICS))
        if bad:
            raise ApiError(400, f"unknown topic(s) {', '.join(bad)[:120]}; one of {', '.join(TOPICS)}")
        if len(self.subscribers) >= MAX_SUBSCRIBERS:
            raise ApiError(503, f"too many event subscribers (at most {MAX_SUBSCRIBERS})")
        sub = _Subscriber(topics)
        self.subscribers.append(sub)
        return StreamingResponse(self._stream(sub), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _stream(self, sub: _Subscriber) -> AsyncIterator[bytes]:
        try:
            yield b": subscribed to " + ",".join(sorted(sub.topics)).encode() + b"\n\n"
            while True:
                frame: Optional[bytes] = None
                # No yield inside the cancel scope: a scope must not span a generator's yield.
                with trio.move_on_after(KEEPALIVE):
                    frame = await sub.receive.receive()
                yield frame if frame is not None else b": keepalive\n\n"
        except trio.EndOfChannel:
            return  # dropped as too slow: end the stream, the client reconnects
        finally:
            self._remove(sub)
