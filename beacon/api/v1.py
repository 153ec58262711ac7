"""The standard Beacon API (/eth/v1), for what phase 0 v0.8.2 has.

Shapes follow the Eth Beacon Node API that the client teams settled on later; where v0.8.2
differs, the document carries what v0.8.2 has (a BeaconBlock holds its own signature, so a
block is {"message": <block without signature>, "signature"}; a header is a v0.8.2
BeaconBlockHeader; committees are per shard, so each committee also names its shard).

Handlers run on the node's event loop and only read the chain. The costly parts of a big
answer (SSZ-encoding or JSON-converting a whole state) run in a worker thread on a private
copy, one at a time, so a client asking for states cannot starve the node.
"""
from __future__ import annotations

from typing import Any, Callable

import trio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from beacon.api import ids
from beacon.api.common import (
    SSZ_TYPE, ApiError, api_obj, hex_root, json_response, parse_uint, ssz_obj, wants_ssz,
)

# One heavy encoding at a time: the node's own work keeps the other core.
_HEAVY = trio.CapacityLimiter(1)

VALIDATOR_STATUSES = ("pending_initialized", "pending_queued", "active_ongoing", "active_exiting",
                      "active_slashed", "exited_unslashed", "exited_slashed", "withdrawal_possible",
                      "withdrawal_done")
GENERAL_STATUSES = {"pending": ("pending_initialized", "pending_queued"),
                    "active": ("active_ongoing", "active_exiting", "active_slashed"),
                    "exited": ("exited_unslashed", "exited_slashed"),
                    "withdrawal": ("withdrawal_possible", "withdrawal_done")}
PEER_STATES = ("disconnected", "connecting", "connected", "disconnecting")
PEER_DIRECTIONS = ("inbound", "outbound")


async def _heavy(fn: Callable[[], Any]) -> Any:
    return await trio.to_thread.run_sync(fn, limiter=_HEAVY)


def _query_list(request: Request, name: str) -> list[str]:
    """A repeated and/or comma-separated query parameter (?id=1,2&id=3)."""
    out = []
    for value in request.query_params.getlist(name):
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def _check_query(request: Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown query parameter(s) {', '.join(unknown)[:120]}; allowed: {', '.join(allowed) or 'none'}")


def validator_status(v: Any, balance: int, epoch: int, far_future: int) -> str:
    if int(v.activation_epoch) > epoch:
        return "pending_initialized" if int(v.activation_eligibility_epoch) == far_future else "pending_queued"
    if epoch < int(v.exit_epoch):
        if v.slashed:
            return "active_slashed"
        return "active_ongoing" if int(v.exit_epoch) == far_future else "active_exiting"
    if epoch < int(v.withdrawable_epoch):
        return "exited_slashed" if v.slashed else "exited_unslashed"
    return "withdrawal_possible" if balance > 0 else "withdrawal_done"


class BeaconApiV1:
    """The /eth/v1 routes of one node (`node` is a beacon.node.Node, duck-typed)."""

    def __init__(self, node: Any) -> None:
        self.node = node

    @property
    def chain(self) -> Any:
        return self.node.chain

    def routes(self) -> list[Route]:
        r = [
            ("/eth/v1/node/identity", self.identity), ("/eth/v1/node/peers", self.peers),
            ("/eth/v1/node/peers/{peer_id}", self.peer), ("/eth/v1/node/syncing", self.syncing),
            ("/eth/v1/node/version", self.version), ("/eth/v1/node/health", self.health),
            ("/eth/v1/beacon/genesis", self.genesis), ("/eth/v1/beacon/headers", self.headers),
            ("/eth/v1/beacon/headers/{block_id}", self.header), ("/eth/v1/beacon/blocks/{block_id}", self.block),
            ("/eth/v1/beacon/blocks/{block_id}/root", self.block_root),
            ("/eth/v1/beacon/states/{state_id}/root", self.state_root),
            ("/eth/v1/beacon/states/{state_id}/finality_checkpoints", self.finality_checkpoints),
            ("/eth/v1/beacon/states/{state_id}/validators", self.validators),
            ("/eth/v1/beacon/states/{state_id}/validators/{validator_id}", self.validator),
            ("/eth/v1/beacon/states/{state_id}/validator_balances", self.validator_balances),
            ("/eth/v1/beacon/states/{state_id}/committees", self.committees),
            ("/eth/v1/debug/beacon/states/{state_id}", self.debug_state),
            ("/eth/v1/debug/beacon/heads", self.debug_heads),
        ]
        return [Route(path, fn, methods=["GET"]) for path, fn in r]

    # --- node ----------------------------------------------------------------------------------
    def _identity_doc(self) -> dict[str, Any]:
        addr = self.node.p2p.multiaddr()
        return {"peer_id": addr.rsplit("/", 1)[-1] if addr else "", "enr": "",
                "p2p_addresses": [addr] if addr else [], "discovery_addresses": [],
                "metadata": {"seq_number": "0", "attnets": "0x0000000000000000"}}

    async def identity(self, request: Request) -> Response:
        _check_query(request, ())
        return json_response({"data": self._identity_doc()})

    def _peer_docs(self) -> list[dict[str, Any]]:
        out = []
        for p in self.node.p2p.peers():
            state = {"disconnecting": "disconnecting"}.get(str(p.get("state")), "connected")
            out.append({"peer_id": str(p.get("id")), "enr": None, "last_seen_p2p_address": str(p.get("address") or ""),
                        "state": state, "direction": p.get("direction") or "outbound",
                        # not in the standard document; the monitor's peer graph shows it
                        "head_slot": None if p.get("head_slot") is None else str(p.get("head_slot"))})
        return out

    async def peers(self, request: Request) -> Response:
        _check_query(request, ("state", "direction"))
        states, directions = _query_list(request, "state"), _query_list(request, "direction")
        for s in states:
            if s not in PEER_STATES:
                raise ApiError(400, f"invalid peer state {s[:40]!r}; one of {', '.join(PEER_STATES)}")
        for d in directions:
            if d not in PEER_DIRECTIONS:
                raise ApiError(400, f"invalid peer direction {d[:40]!r}; one of {', '.join(PEER_DIRECTIONS)}")
        docs = [p for p in self._peer_docs() if (not states or p["state"] in states)
                and (not directions or p["direction"] in directions)]
        return json_response({"data": docs, "meta": {"count": len(docs)}})

    async def peer(self, request: Request) -> Response:
        peer_id = request.path_params["peer_id"]
        if not peer_id.isalnum() or len(peer_id) > 128:
            raise ApiError(400, f"invalid peer id {peer_id[:80]!r}")
        for p in self._peer_docs():
            if p["peer_id"] == peer_id:
                return json_response({"data": p})
        raise ApiError(404, f"peer {peer_id} is not known")

    async def syncing(self, request: Request) -> Response:
        _check_query(request, ())
        head = self.chain.head.slot
        wall = self.node.clock.current_slot() or 0
        return json_response({"data": {"head_slot": str(head), "sync_distance": str(max(0, wall - head)),
                                       "is_syncing": bool(self.node.p2p.is_syncing())}})

    async def version(self, request: Request) -> Response:
        _check_query(request, ())
        return json_response({"data": {"version": self.node.version}})

    async def health(self, request: Request) -> Response:
        _check_query(request, ("syncing_status",))
        syncing_status = 206
        if "syncing_status" in request.query_params:
            syncing_status = parse_uint(request.query_params["syncing_status"], "syncing_status")
            if not 100 <= syncing_status <= 599:
                raise ApiError(400, "syncing_status must be an HTTP status code (100..599)")
        return Response(status_code=syncing_status if self.node.p2p.is_syncing() else 200)

    # --- beacon: genesis, headers, blocks ------------------------------------------------------
    async def genesis(self, request: Request) -> Response:
        _check_query(request, ())
        state = self.chain.state_at_block(self.chain.genesis_root)
        validators_root = _field_root(state, "validators")
        return json_response({"data": {"genesis_time": str(self.node.genesis_time),
                                       "genesis_validators_root": hex_root(validators_root),
                                       "genesis_fork_version": hex_root(bytes(state.fork.current_version))}})

    def _header_doc(self, root: bytes, block: Any) -> dict[str, Any]:
        return {"root": hex_root(root), "canonical": ids.is_canonical(self.chain, root, int(block.slot)),
                "header": {"message": {"slot": str(int(block.slot)), "parent_root": hex_root(block.parent_root),
                                       "state_root": hex_root(block.state_root),
                                       "body_root": hex_root(block.body.hash_tree_root())},
                           "signature": hex_root(block.signature)}}

    async def headers(self, request: Request) -> Response:
        _check_query(request, ("slot", "parent_root"))
        chain = self.chain
        q = request.query_params
        if "parent_root" in q:
            parent = ids.parse_root(q["parent_root"], "parent_root")
            slot = parse_uint(q["slot"], "slot") if "slot" in q else None
            found = [(r, b) for r, b in list(chain.store.blocks.items())
                     if bytes(b.parent_root) == parent and (slot is None or int(b.slot) == slot)]
        elif "slot" in q:
            slot = parse_uint(q["slot"], "slot")
            found = [(r, b) for r, b in list(chain.store.blocks.items()) if int(b.slot) == slot]
            canonical = chain.db.get_canonical_root(slot)
            if canonical is not None and canonical not in {r for r, _ in found}:
                found.append((canonical, chain.get_block(canonical)))
        else:
            found = [ids.get_block(chain, "head")]
        found = [(r, b) for r, b in found if b is not None]
        found.sort(key=lambda rb: (int(rb[1].slot), rb[0]))
        return json_response({"data": [self._header_doc(r, b) for r, b in found]})

    async def header(self, request: Request) -> Response:
        _check_query(request, ())
        root, block = ids.get_block(self.chain, request.path_params["block_id"])
        return json_response({"data": self._header_doc(root, block)})

    async def block(self, request: Request) -> Response:
        _check_query(request, ())
        root, block = ids.get_block(self.chain, request.path_params["block_id"])
        if wants_ssz(request.headers.get("accept", "")):
            return Response(block.serialize(), media_type=SSZ_TYPE)
        doc = ssz_obj(block)
        signature = doc.pop("signature")
        return json_response({"data": {"message": doc, "signature": signature},
                              "root": hex_root(root), "canonical": ids.is_canonical(self.chain, root, int(block.slot))})

    async def block_root(self, request: Request) -> Response:
        _check_query(request, ())
        root = ids.block_root(self.chain, request.path_params["block_id"])
        return json_response({"data": {"root": hex_root(root)}})

    # --- states ----------------------------------------------------------------------------------
    async def state_root(self, request: Request) -> Response:
        _check_query(request, ())
        ref = ids.state_ref(self.chain, request.path_params["state_id"])
        return json_response({"data": {"root": hex_root(ids.state_root_of(self.chain, ref))}})

    async def finality_checkpoints(self, request: Request) -> Response:
        _check_query(request, ())
        state = ids.state_ref(self.chain, request.path_params["state_id"]).load(self.chain)

        def cp(c: Any) -> dict[str, str]:
            return {"epoch": str(int(c.epoch)), "root": hex_root(c.root)}

        return json_response({"data": {"previous_justified": cp(state.previous_justified_checkpoint),
                                       "current_justified": cp(state.current_justified_checkpoint),
                                       "finalized": cp(state.finalized_checkpoint)}})

    def _validator_index(self, state: Any, text: str, strict: bool) -> int | None:
        """An index for `text` (an index or a 0x pubkey); None when unknown."""
        if text.startswith("0x"):
            if len(text) != 98:
                raise ApiError(400, f"validator id {text[:100]!r}: a pubkey is 0x and 96 hex digits")
            try:
                pubkey = bytes.fromhex(text[2:])
            except ValueError:
                raise ApiError(400, f"validator id {text[:100]!r} is not hex") from None
            for i, v in enumerate(state.validators):
                if bytes(v.pubkey) == pubkey:
                    return i
            return None
        index = parse_uint(text, "validator id")
        return index if index < len(state.validators) else None

    def _statuses(self, request: Request) -> set[str]:
        wanted: set[str] = set()
        for s in _query_list(request, "status"):
            if s in GENERAL_STATUSES:
                wanted.update(GENERAL_STATUSES[s])
            elif s in VALIDATOR_STATUSES:
                wanted.add(s)
            else:
                raise ApiError(400, f"invalid validator status {s[:40]!r}; one of "
                                    f"{', '.join(VALIDATOR_STATUSES + tuple(GENERAL_STATUSES))}")
        return wanted

    def _validator_doc(self, state: Any, i: int, epoch: int) -> dict[str, Any]:
        v = state.validators[i]
        balance = int(state.balances[i])
        return {"index": str(i), "balance": str(balance),
                "status": validator_status(v, balance, epoch, self.node.config.FAR_FUTURE_EPOCH),
                "validator": ssz_obj(v)}

    def _selected(self, state: Any, request: Request) -> list[int]:
        wanted = _query_list(request, "id")
        if len(wanted) > 1024:
            raise ApiError(400, f"at most 1024 validator ids per request, got {len(wanted)}")
        if not wanted:
            return list(range(len(state.validators)))
        out = []
        for text in wanted:
            i = self._validator_index(state, text, strict=False)
            if i is not None and i not in out:
                out.append(i)
        return out

    async def validators(self, request: Request) -> Response:
        _check_query(request, ("id", "status"))
        statuses = self._statuses(request)
        ref = ids.state_ref(self.chain, request.path_params["state_id"])
        state = ref.load(self.chain)
        epoch = int(state.slot) // self.node.config.SLOTS_PER_EPOCH
        indices = self._selected(state, request)
        state = state.copy()

        def build() -> list[dict[str, Any]]:
            docs = [self._validator_doc(state, i, epoch) for i in indices]
            return [d for d in docs if not statuses or d["status"] in statuses]

        return json_response({"data": await _heavy(build)})

    async def validator(self, request: Request) -> Response:
        _check_query(request, ())
        state = ids.state_ref(self.chain, request.path_params["state_id"]).load(self.chain)
        text = request.path_params["validator_id"]
        i = self._validator_index(state, text, strict=True)
        if i is None:
            raise ApiError(404, f"validator {text[:100]} is not in this state")
        epoch = int(state.slot) // self.node.config.SLOTS_PER_EPOCH
        return json_response({"data": self._validator_doc(state, i, epoch)})

    async def validator_balances(self, request: Request) -> Response:
        _check_query(request, ("id",))
        state = ids.state_ref(self.chain, request.path_params["state_id"]).load(self.chain)
        indices = self._selected(state, request)
        return json_response({"data": [{"index": str(i), "balance": str(int(state.balances[i]))} for i in indices]})

    async def committees(self, request: Request) -> Response:
        from beacon.state.accessors import get_committee_count, get_crosslink_committee, get_start_shard

        _check_query(request, ("epoch", "index", "slot"))
        q = request.query_params
        cfg = self.node.config
        spe, shards = cfg.SLOTS_PER_EPOCH, cfg.SHARD_COUNT
        state = ids.state_ref(self.chain, request.path_params["state_id"]).load(self.chain)
        current = int(state.slot) // spe
        epoch = parse_uint(q["epoch"], "epoch") if "epoch" in q else current
        if not max(0, current - 1) <= epoch <= current + 1:
            raise ApiError(400, f"committees of this state are known for epochs {max(0, current - 1)}..{current + 1}, "
                                f"not {epoch}")
        index = parse_uint(q["index"], "index") if "index" in q else None
        slot = parse_uint(q["slot"], "slot") if "slot" in q else None
        if slot is not None and slot // spe != epoch:
            raise ApiError(400, f"slot {slot} is not in epoch {epoch}")
        per_slot = get_committee_count(state, epoch) // spe
        start = get_start_shard(state, epoch)
        out = []
        for offset in range(spe):
            s = epoch * spe + offset
            if slot is not None and s != slot:
                continue
            for i in range(per_slot):
                if index is not None and i != index:
                    continue
                shard = (start + per_slot * offset + i) % shards
                members = get_crosslink_committee(state, epoch, shard)
                out.append({"index": str(i), "shard": str(shard), "slot": str(s),
                            "validators": [str(int(v)) for v in members]})
        return json_response({"data": out})

    # --- debug -------------------------------------------------------------------------------------
    async def debug_state(self, request: Request) -> Response:
        _check_query(request, ())
        state = ids.state_ref(self.chain, request.path_params["state_id"]).load(self.chain).copy()
        if wants_ssz(request.headers.get("accept", "")):
            return Response(await _heavy(state.serialize), media_type=SSZ_TYPE)
        return json_response({"data": await _heavy(lambda: ssz_obj(state))})

    async def debug_heads(self, request: Request) -> Response:
        _check_query(request, ())
        heads = sorted(self.chain.heads(), key=lambda h: (h[1], h[0]))
        return json_response({"data": [{"root": hex_root(r), "slot": str(s)} for r, s in heads]})


def _field_root(container: Any, name: str) -> bytes:
    """hash_tree_root of one field of a container (v0.8.2 has no genesis_validators_root; the
    later API's value is this root of the genesis validator registry)."""
    value = getattr(container, name)
    if hasattr(value, "hash_tree_root"):
        return bytes(value.hash_tree_root())
    for fname, ftype in type(container).fields():
        if fname == name:
            return bytes(ftype.hash_tree_root(value))
    raise AttributeError(name)


__all__ = ["BeaconApiV1", "api_obj"]
