"""Read-only JSON views of a running node.

GET /node/status     the testnet-harness contract (docs/testnet.md): version, genesis_time,
                     syncing, head {slot, root, state_root}, justified/finalized {epoch, root},
                     peers [{id, address, direction, head_slot, state}]
GET /node/version    {"version"}
GET /node/identity   {"peer_id", "multiaddr"}
GET /node/peers      {"peers": [...]}
GET /node/syncing    {"syncing", "head_slot", "wall_slot"}
GET /beacon/head     head, justified, previous justified (head state), finalized
GET /beacon/block    ?slot=N (canonical) or ?root=0x..  -> {"root", "canonical", "block"}
GET /beacon/state/root ?slot=N (default: head) -> {"slot", "root"}: the state root at that slot
GET /validator/duties ?epoch=N (default: current) -> our proposer and attester duties
GET /validator/stats  duty counts by kind and outcome

Roots are 0x-prefixed hex of 32 bytes; numbers are JSON numbers.
"""
from __future__ import annotations

from typing import Any, Optional

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from beacon.api.common import ApiError as HttpError
from beacon.api.common import json_response
from beacon.api.metrics import CONTENT_TYPE


def hex_root(root: bytes) -> str:
    return "0x" + bytes(root).hex()


def _int_param(query: dict[str, str], name: str) -> Optional[int]:
    if name not in query:
        return None
    try:
        value = int(query[name], 0)
    except ValueError:
        raise HttpError(400, f"{name} must be an integer, got {query[name]!r}") from None
    if value < 0:
        raise HttpError(400, f"{name} must not be negative")
    return value


def _root_param(query: dict[str, str], name: str) -> Optional[bytes]:
    if name not in query:
        return None
    text = query[name]
    try:
        raw = bytes.fromhex(text[2:] if text.startswith("0x") else text)
    except ValueError:
        raise HttpError(400, f"{name} must be 32 bytes of hex") from None
    if len(raw) != 32:
        raise HttpError(400, f"{name} must be 32 bytes of hex, got {len(raw)} bytes")
    return raw


class Views:
    """The JSON documents; `node` is a beacon.node.Node (duck-typed here to keep layers apart)."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def routes(self) -> list[Route]:
        return _as_routes(self.legacy_routes())

    def legacy_routes(self) -> dict[str, Any]:
        return {
            "/node/status": lambda q: json_response(self.status()),
            "/node/version": lambda q: json_response({"version": self.node.version}),
            "/node/identity": lambda q: json_response(self.identity()),
            "/node/peers": lambda q: json_response({"peers": self.peers()}),
            "/node/syncing": lambda q: json_response(self.syncing()),
            "/beacon/head": lambda q: json_response(self.head()),
            "/beacon/block": self.block,
            "/beacon/state/root": self.state_root,
            "/validator/duties": self.duties,
            "/validator/stats": lambda q: json_response(self.stats()),
        }

    def metrics_routes(self) -> list[Route]:
        return _as_routes({"/metrics": self.metrics})

    # --- node ----------------------------------------------------------------------------------
    def peers(self) -> list[dict[str, Any]]:
        out = []
        for p in self.node.p2p.peers():
            out.append({"id": str(p.get("id")), "address": str(p.get("address", "")),
                        "direction": p.get("direction"), "head_slot": p.get("head_slot"),
                        "state": p.get("state")})
        return out

    def status(self) -> dict[str, Any]:
        chain = self.node.chain
        head = chain.head
        just, fin = chain.justified_checkpoint, chain.finalized_checkpoint
        return {
            "version": self.node.version,
            "genesis_time": self.node.genesis_time,
            "syncing": bool(self.node.p2p.is_syncing()),
            "head": {"slot": head.slot, "root": hex_root(head.root), "state_root": hex_root(head.state_root)},
            "justified": {"epoch": int(just.epoch), "root": hex_root(just.root)},
            "finalized": {"epoch": int(fin.epoch), "root": hex_root(fin.root)},
            "peers": self.peers(),
            # Head moves off the old head's branch since start; depth in slots (old head - common ancestor).
            "reorgs": {"count": chain.reorgs.count, "last_depth": chain.reorgs.last_depth,
                       "max_depth": chain.reorgs.max_depth, "last_slot": chain.reorgs.last_slot},
        }

    def identity(self) -> dict[str, Any]:
        addr = self.node.p2p.multiaddr()
        return {"peer_id": addr.rsplit("/", 1)[-1] if addr else None, "multiaddr": addr}

    def syncing(self) -> dict[str, Any]:
        return {"syncing": bool(self.node.p2p.is_syncing()), "head_slot": self.node.chain.head.slot,
                "wall_slot": self.node.clock.current_slot()}

    # --- beacon --------------------------------------------------------------------------------
    def head(self) -> dict[str, Any]:
        chain = self.node.chain
        head = chain.head
        state = chain.state_at_block(head.root)
        cp = lambda c: {"epoch": int(c.epoch), "root": hex_root(c.root)}  # noqa: E731
        return {
            "slot": head.slot, "root": hex_root(head.root), "state_root": hex_root(head.state_root),
            "epoch": head.slot // self.node.config.SLOTS_PER_EPOCH,
            "justified": cp(chain.justified_checkpoint),
            "previous_justified": cp(state.previous_justified_checkpoint),
            "finalized": cp(chain.finalized_checkpoint),
        }

    def block(self, query: dict[str, str]) -> Response:
        chain = self.node.chain
        slot, root = _int_param(query, "slot"), _root_param(query, "root")
        if (slot is None) == (root is None):
            raise HttpError(400, "give exactly one of ?slot=N or ?root=0x..")
        if root is None:
            root = chain.db.get_canonical_root(slot)
            if root is None:
                raise HttpError(404, f"no canonical block at slot {slot}")
        block = chain.get_block(root)
        if block is None:
            raise HttpError(404, f"unknown block {hex_root(root)}")
        canonical = chain.db.get_canonical_root(int(block.slot)) == root
        return json_response({"root": hex_root(root), "canonical": canonical,
                              "block": type(block).to_obj(block)})

    def state_root(self, query: dict[str, str]) -> Response:
        from beacon.state.slots import process_slots

        chain = self.node.chain
        head = chain.head
        slot = _int_param(query, "slot")
        if slot is None or slot == head.slot:
            return json_response({"slot": head.slot, "root": hex_root(head.state_root)})
        if slot > head.slot:
            raise HttpError(404, f"slot {slot} is beyond the head (slot {head.slot})")
        # The canonical block at or before `slot`, then its state through the empty slots.
        for s in range(slot, -1, -1):
            root = chain.db.get_canonical_root(s)
            if root is not None:
                break
        else:
            raise HttpError(404, f"no canonical block at or before slot {slot}")
        info = chain.db.get_block_info(root)
        if info is not None and info.slot == slot:
            return json_response({"slot": slot, "root": hex_root(info.state_root)})
        try:
            state = chain.state_at_block(root).copy()
        except KeyError:
            raise HttpError(404, f"state at slot {slot} is no longer kept (below finality)") from None
        process_slots(state, slot)
        return json_response({"slot": slot, "root": hex_root(state.hash_tree_root())})

    # --- validator -----------------------------------------------------------------------------
    def duties(self, query: dict[str, str]) -> Response:
        validator = self.node.validator
        if validator is None:
            return json_response({"epoch": None, "proposers": [], "attesters": [], "validators": []})
        head_epoch = self.node.chain.head.slot // self.node.config.SLOTS_PER_EPOCH
        wall = self.node.clock.current_slot()
        current = (wall if wall is not None else 0) // self.node.config.SLOTS_PER_EPOCH
        epoch = _int_param(query, "epoch")
        epoch = current if epoch is None else epoch
        if not head_epoch <= epoch <= max(head_epoch, current) + 1:
            raise HttpError(400, f"duties are known for epochs {head_epoch}..{max(head_epoch, current) + 1}")
        doc = validator.duties(epoch)
        doc["validators"] = sorted(validator.keys)
        return json_response(doc)

    def stats(self) -> dict[str, Any]:
        validator = self.node.validator
        if validator is None:
            return {"validators": 0, "duties": {}}
        out: dict[str, dict[str, int]] = {}
        for (kind, outcome), n in sorted(validator.totals.counts.items()):
            out.setdefault(kind, {})[outcome] = n
        return {"validators": len(validator.keys), "duties": out}

    # --- metrics -------------------------------------------------------------------------------
    def metrics(self, query: dict[str, str]) -> Response:
        self.node.refresh_metrics()
        return Response(self.node.metrics.render(), 200, media_type=CONTENT_TYPE)


def _as_routes(handlers: dict[str, Any]) -> list[Route]:
    """Starlette routes for handlers that take the query as a dict of single values."""
    def endpoint(handler: Any) -> Any:
        async def call(request: Request) -> Response:
            return handler(dict(request.query_params))
        return call
    return [Route(path, endpoint(h), methods=["GET"]) for path, h in handlers.items()]
