"""Block and state ids of the Beacon API, resolved against the chain.

block_id: head | genesis | finalized | justified | <slot> (the canonical block at that slot) | 0x<block root>
state_id: head | genesis | finalized | justified | <slot> (the canonical state at that slot,
          through empty slots) | 0x<state root>

A malformed id is a 400; a well-formed one we do not know is a 404 (ApiError either way).
The finalized and justified states are the checkpoint states: the checkpoint block's state
advanced to the first slot of the checkpoint epoch, as fork choice uses them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from beacon.api.common import ApiError, hex_root, parse_root, parse_uint

NAMED = ("head", "genesis", "finalized", "justified")
# Replaying empty slots is the one open-ended cost of a state lookup: bound it.
MAX_EMPTY_SLOTS = 4 * 64


def _named_root(chain: Any, name: str) -> bytes:
    if name == "head":
        return chain.head.root
    if name == "genesis":
        return chain.genesis_root
    if name == "finalized":
        return bytes(chain.finalized_checkpoint.root)
    return bytes(chain.justified_checkpoint.root)


def _id_kind(text: str, what: str) -> str:
    if text in NAMED:
        return "named"
    if text.startswith("0x"):
        return "root"
    if text.isdigit():
        return "slot"
    raise ApiError(400, f"invalid {what} {text[:80]!r}: use head, genesis, finalized, justified, a slot or a 0x root")


def block_root(chain: Any, block_id: str) -> bytes:
    """The root of the block `block_id` names (404 if we have no such block)."""
    kind = _id_kind(block_id, "block_id")
    if kind == "named":
        return _named_root(chain, block_id)
    if kind == "slot":
        slot = parse_uint(block_id, "block_id slot")
        root = chain.db.get_canonical_root(slot)
        if root is None:
            raise ApiError(404, f"no canonical block at slot {slot}")
        return root
    root = parse_root(block_id, "block_id")
    if not chain.has_block(root):
        raise ApiError(404, f"unknown block {block_id}")
    return root


def get_block(chain: Any, block_id: str) -> tuple[bytes, Any]:
    root = block_root(chain, block_id)
    block = chain.get_block(root)
    if block is None:
        raise ApiError(404, f"block {hex_root(root)} is no longer stored")
    return root, block


def is_canonical(chain: Any, root: bytes, slot: int) -> bool:
    return chain.db.get_canonical_root(slot) == root


@dataclass
class StateRef:
    """Where a state comes from: a block's post-state, advanced through empty slots to `slot`."""

    block_root: bytes
    slot: int

    def load(self, chain: Any) -> Any:
        """The state (a copy when advanced; callers must not modify the one returned otherwise)."""
        try:
            state = chain.state_at_block(self.block_root)
        except KeyError:
            state = None
        if state is None:
            raise ApiError(404, f"the state of block {hex_root(self.block_root)} is no longer kept")
        if int(state.slot) < self.slot:
            from beacon.state.slots import process_slots

            state = state.copy()
            process_slots(state, self.slot)
        return state


def state_ref(chain: Any, state_id: str) -> StateRef:
    kind = _id_kind(state_id, "state_id")
    spe = chain.config.SLOTS_PER_EPOCH
    if kind == "named":
        root = _named_root(chain, state_id)
        info = chain.db.get_block_info(root)
        slot = info.slot if info is not None else 0
        if state_id in ("finalized", "justified"):
            cp = chain.finalized_checkpoint if state_id == "finalized" else chain.justified_checkpoint
            slot = max(slot, int(cp.epoch) * spe)
        return StateRef(root, slot)
    if kind == "slot":
        slot = parse_uint(state_id, "state_id slot")
        head = chain.head
        if slot > head.slot:
            raise ApiError(404, f"slot {slot} is beyond the head (slot {head.slot})")
        found = _canonical_at_or_before(chain, slot)
        if found is None:
            raise ApiError(404, f"no canonical block at or before slot {slot}")
        return StateRef(found[1], slot)
    root = parse_root(state_id, "state_id")
    found_root = _block_of_state_root(chain, root)
    if found_root is None:
        raise ApiError(404, f"unknown state root {state_id} (known: post-states of blocks since finality)")
    info = chain.db.get_block_info(found_root)
    return StateRef(found_root, info.slot if info is not None else 0)


def _canonical_at_or_before(chain: Any, slot: int) -> Optional[tuple[int, bytes]]:
    for s in range(slot, max(-1, slot - MAX_EMPTY_SLOTS - 1), -1):
        root = chain.db.get_canonical_root(s)
        if root is not None:
            return s, root
    return None


def _block_of_state_root(chain: Any, state_root: bytes) -> Optional[bytes]:
    """The block whose post-state has this root: fork-choice blocks (every branch since
    finality) and the genesis block."""
    for root, block in list(chain.store.blocks.items()):
        if bytes(block.state_root) == state_root:
            return root
    genesis = chain.get_block(chain.genesis_root)
    if genesis is not None and bytes(genesis.state_root) == state_root:
        return chain.genesis_root
    return None


def state_root_of(chain: Any, ref: StateRef) -> bytes:
    """The root of the state `ref` names, hashed from the state this node holds (not copied
    from the block): a replay that went wrong shows here, and the monitor compares nodes."""
    return bytes(ref.load(chain).hash_tree_root())
