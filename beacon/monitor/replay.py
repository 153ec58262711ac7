"""The monitor's own check of the chain: every block it learns of goes through pybeacon's state
transition (beacon/state, signatures included) on its parent's post-state, and the result is
compared with the state root the block claims. A node that accepted a block whose post-state
differs, or a block our transition refuses, is flagged on the page.

The genesis state comes from a node (debug/beacon/states/genesis as SSZ); the preset is the one
whose BeaconState decodes it to the root the node reports. Post-states of recent blocks are
kept (LRU, MAX_STATES); a block whose parent state is gone is not replayed (said so).
"""
from __future__ import annotations

import logging
from collections import OrderedDict, deque
from typing import Any, Optional

import trio

from beacon.monitor.model import Model
from beacon.monitor.watcher import ApiFailure, NodeApi

log = logging.getLogger("beacon.monitor")

MAX_STATES = 256
MAX_QUEUE = 20000


class Replayer:
    def __init__(self, model: Model, apis: dict[str, NodeApi]) -> None:
        self.model = model
        self.apis = apis
        self.queue: deque[str] = deque()
        self.queued: set[str] = set()
        self.wake = trio.Event()
        self.states: "OrderedDict[str, Any]" = OrderedDict()
        self.types: Any = None
        self.preset = ""
        self.replayed = 0

    def submit(self, root: str, node: str) -> None:
        if root in self.queued or len(self.queue) >= MAX_QUEUE:
            return
        self.queued.add(root)
        self.queue.append(root)
        self.wake.set()

    async def run(self) -> None:
        await self._load_genesis()
        while True:
            while not self.queue:
                self.wake = trio.Event()
                await self.wake.wait()
            root = self.queue.popleft()
            try:
                await self._replay(root)
            except Exception as e:  # noqa: BLE001 - nodes going away must not stop the replay
                log.debug("replay of %s skipped: %s: %s", root, type(e).__name__, e)

    async def _any(self, fn: Any, names: Optional[list[str]] = None) -> Any:
        last: Exception = ApiFailure(0, "no node online")
        order = (names or []) + [n for n in self.apis if n not in (names or [])]
        for name in order:
            if not self.model.nodes[name].online:
                continue
            try:
                return await fn(self.apis[name])
            except Exception as e:  # noqa: BLE001 - try the next node
                last = e
        raise last

    async def _load_genesis(self) -> None:
        from beacon.config import load_config
        from beacon.types import get_types

        while True:
            try:
                raw = await self._any(lambda api: api.ssz("/eth/v1/debug/beacon/states/genesis"))
                want = await self._any(lambda api: api.data("/eth/v1/beacon/states/genesis/root"))
                groot = await self._any(lambda api: api.data("/eth/v1/beacon/blocks/genesis/root"))
                break
            except Exception as e:  # noqa: BLE001 - nodes not up yet
                log.debug("replay: genesis not available yet: %s", e)
                await trio.sleep(1)
        for preset in ("minimal", "mainnet"):
            types = get_types(load_config(preset))
            try:
                state = types.BeaconState.deserialize(raw)
            except Exception:  # noqa: BLE001 - not this preset's shape
                continue
            if "0x" + state.hash_tree_root().hex() == want["root"]:
                self.types, self.preset = types, preset
                self.states[groot["root"]] = state
                log.info("replay: genesis state of the %s preset loaded", preset)
                return
        log.warning("replay: the genesis state matches no known preset; replay is off")
        self.model.alert("replay", "the genesis state matches no known preset (minimal, mainnet); replay is off")
        await trio.sleep_forever()

    async def _replay(self, root: str) -> None:
        rec = self.model.blocks.get(root)
        if rec is None or rec.slot == 0 or rec.replay is not None:
            return
        pre = self.states.get(rec.parent) if rec.parent else None
        if pre is None:
            self.model.set_replay(root, "not replayed: the parent's post-state is not kept", None)
            return
        raw = await self._any(lambda api: api.ssz(f"/eth/v1/beacon/blocks/{root}"), sorted(rec.seen_by))
        block = self.types.BeaconBlock.deserialize(raw)
        verdict, post, proposer = await trio.to_thread.run_sync(_apply, pre, block)
        if post is not None:
            self.states[root] = post
            self.states.move_to_end(root)
            while len(self.states) > MAX_STATES:
                self.states.popitem(last=False)
        self.replayed += 1
        self.model.set_replay(root, verdict, proposer)


def _apply(pre: Any, block: Any) -> tuple[str, Optional[Any], Optional[int]]:
    """(verdict, post-state or None, proposer index) of `block` on `pre` (runs in a thread)."""
    from beacon.state.accessors import get_beacon_proposer_index
    from beacon.state.errors import StateTransitionError
    from beacon.state.slots import apply_block

    try:
        post = apply_block(pre, block, validate_state_root=False)
    except StateTransitionError as e:
        return f"refused by the transition: {e}"[:200], None, None
    proposer = int(get_beacon_proposer_index(post))
    got = post.hash_tree_root()
    if bytes(got) != bytes(block.state_root):
        return f"differs: post-state 0x{bytes(got).hex()[:16]} but the block claims 0x{bytes(block.state_root).hex()[:16]}", post, proposer
    return "ok", post, proposer
