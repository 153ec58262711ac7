"""The state transition function (0_beacon-chain.md v0.8.2, "Beacon chain state transition function")."""
from __future__ import annotations

from typing import Any

from beacon.state.block import process_block
from beacon.state.errors import InvalidBlock, InvalidSlot

ZERO_HASH = b"\x00" * 32


# spec v0.8.2: Beacon chain state transition function / state_transition
def state_transition(state: Any, block: Any, validate_state_root: bool = False) -> Any:
    """Apply ``block`` (after the empty slots before it) to ``state`` in place, atomically.

    All-or-nothing: the work is done on a copy, and only if the whole block is valid are the
    copy's contents moved into ``state`` (so the spec's in-place form works). On any failure
    a StateTransitionError (InvalidSlot, InvalidBlock, InvalidOperation naming the rule and
    the object) is raised and ``state`` is exactly as it was. Returns ``state``.
    Callers that want pre and post both should use apply_block (one copy, not two).
    """
    post = apply_block(state, block, validate_state_root)
    state.assign(post)  # takes post's contents over, no second copy
    return state


def apply_block(pre: Any, block: Any, validate_state_root: bool = True) -> Any:
    """The post-state of ``block`` on ``pre`` as a new state; ``pre`` is never modified."""
    if block.slot < pre.slot:
        raise InvalidSlot(f"block slot {block.slot} is before the state slot {pre.slot}")
    state = pre.copy()
    # Process slots (including those with no blocks) since block
    process_slots(state, block.slot)
    # Process block
    process_block(state, block)
    # Validate state root (`validate_state_root == True` in production)
    if validate_state_root and block.state_root != state.hash_tree_root():
        raise InvalidBlock("state root does not match the post-state")
    return state


# spec v0.8.2: Beacon chain state transition function / process_slots
def process_slots(state: Any, slot: int) -> None:
    """Advance ``state`` to ``slot`` in place, running epoch processing at epoch boundaries."""
    from beacon.state.epoch import process_epoch  # beacon.state.epoch imports our helpers

    if not state.slot <= slot:
        raise InvalidSlot(f"cannot process slots back from {state.slot} to {slot}")
    slots_per_epoch = state.config.SLOTS_PER_EPOCH
    while state.slot < slot:
        process_slot(state)
        # Process epoch on the start slot of the next epoch
        if (state.slot + 1) % slots_per_epoch == 0:
            process_epoch(state)
        state.slot += 1


# spec v0.8.2: Beacon chain state transition function / process_slot
def process_slot(state: Any) -> None:
    n = state.config.SLOTS_PER_HISTORICAL_ROOT
    # Cache state root
    previous_state_root = state.hash_tree_root()
    state.state_roots[state.slot % n] = previous_state_root
    # Cache latest block header state root
    if state.latest_block_header.state_root == ZERO_HASH:
        state.latest_block_header.state_root = previous_state_root
    # Cache block root
    previous_block_root = state.latest_block_header.signing_root()
    state.block_roots[state.slot % n] = previous_block_root
