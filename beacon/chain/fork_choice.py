"""Fork choice: specs/core/0_fork-choice.md (v0.8.2), with the weights kept incrementally.

Spec functions keep their names and arguments; `store.proto` (beacon.chain.proto_array) makes
get_head cost the changed paths instead of validators x blocks. `get_head_naive` is the spec's
get_head verbatim, kept as the reference for tests and the benchmark baseline.

Where this file departs from the v0.8.2 text, on purpose and commented in place:
- checkpoints are dict keys as (epoch, root) tuples (our SSZ containers are mutable);
- get_ancestor walks iteratively (the spec recurses once per slot);
- the justified checkpoint state is computed when missing (v0.8.2 fills checkpoint_states only
  in on_attestation, so get_head after a justification seen only in a block would KeyError);
- on_attestation's "attestation slot is in the past" check adds genesis_time, which the v0.8.2
  text omits (its check compares a Unix time with a slot count and always passes);
- assertions raise ForkChoiceError subclasses naming the rule, so callers can hold or drop.
Note: the v0.8.2 text has no SAFE_SLOTS_TO_UPDATE_JUSTIFIED / should_update_justified_checkpoint
rule (that came with later spec versions); on_block here updates the justified checkpoint
exactly as v0.8.2 does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

from beacon.chain.errors import (
    FinalizedConflict, ForkChoiceError, FutureAttestation, FutureBlock, InvalidAttestation, UnknownParent,
    UnknownTarget,
)
from beacon.chain.proto_array import ProtoArray
from beacon.state import (
    compute_start_slot_of_epoch, get_active_validator_indices, get_attestation_data_slot, get_current_epoch,
    get_indexed_attestation, is_valid_indexed_attestation,
)

CheckpointKey = Tuple[int, bytes]


def cp_key(checkpoint: Any) -> CheckpointKey:
    return (int(checkpoint.epoch), bytes(checkpoint.root))


# spec v0.8.2: Fork choice / Helpers / LatestMessage
@dataclass(eq=True, frozen=True)
class LatestMessage(object):
    epoch: int
    root: bytes


# spec v0.8.2: Fork choice / Helpers / Store
@dataclass
class Store(object):
    time: int
    justified_checkpoint: Any
    finalized_checkpoint: Any
    blocks: Dict[bytes, Any] = field(default_factory=dict)
    block_states: Dict[bytes, Any] = field(default_factory=dict)
    checkpoint_states: Dict[CheckpointKey, Any] = field(default_factory=dict)
    latest_messages: Dict[int, LatestMessage] = field(default_factory=dict)
    # Not in the spec: the incremental weights, and the balances they were computed with.
    proto: Optional[ProtoArray] = None
    balances_key: Optional[CheckpointKey] = None
    genesis_time: int = 0
    # Supplies a block's post-state when block_states does not hold it (e.g. rebuilt by replay).
    state_loader: Optional[Callable[[bytes], Any]] = None

    @property
    def config(self) -> Any:
        return self.justified_checkpoint.config

    def block_state(self, root: bytes) -> Any:
        state = self.block_states.get(root)
        if state is None and self.state_loader is not None:
            state = self.state_loader(root)
        if state is None:
            raise KeyError(f"no state for block 0x{root.hex()[:16]}")
        return state


# spec v0.8.2: Fork choice / Helpers / get_genesis_store
def get_genesis_store(genesis_state: Any) -> Store:
    t = genesis_state.types
    cfg = genesis_state.config
    genesis_block = t.BeaconBlock(state_root=genesis_state.hash_tree_root())
    root = genesis_block.signing_root()
    genesis_epoch = cfg.GENESIS_SLOT // cfg.SLOTS_PER_EPOCH  # GENESIS_EPOCH = compute_epoch_of_slot(GENESIS_SLOT)
    justified_checkpoint = t.Checkpoint(epoch=genesis_epoch, root=root)
    finalized_checkpoint = t.Checkpoint(epoch=genesis_epoch, root=root)
    # One copy for both maps: stored states are never modified (as in _checkpoint_state), and
    # a copy of a 300,000-validator state costs ~0.8 s and ~250 MB.
    state = genesis_state.copy()
    return Store(
        time=genesis_state.genesis_time,
        justified_checkpoint=justified_checkpoint,
        finalized_checkpoint=finalized_checkpoint,
        blocks={root: genesis_block},
        block_states={root: state},
        checkpoint_states={cp_key(justified_checkpoint): state},
        proto=ProtoArray(root, genesis_block.slot),
        genesis_time=int(genesis_state.genesis_time),
    )


# spec v0.8.2: Fork choice / Helpers / get_ancestor
def get_ancestor(store: Store, root: bytes, slot: int) -> bytes:
    # Iterative form of the spec's recursion (chains are longer than Python's stack).
    block = store.blocks[root]
    while block.slot > slot:
        root = bytes(block.parent_root)
        block = store.blocks[root]
    if block.slot == slot:
        return root
    return b"\x00" * 32  # root is older than queried slot: no results.


def _checkpoint_state(store: Store, checkpoint: Any) -> Any:
    """store.checkpoint_states[checkpoint], computed as on_attestation does when missing."""
    from beacon.state.slots import process_slots

    key = cp_key(checkpoint)
    state = store.checkpoint_states.get(key)
    if state is None:
        state = store.block_state(key[1])
        start = compute_start_slot_of_epoch(key[0], cfg=state.config)
        if state.slot < start:
            state = state.copy()
            process_slots(state, start)
        # else: the block's own post-state, shared (stored states are never modified)
        store.checkpoint_states[key] = state
    return state


def justified_balances(store: Store) -> list[int]:
    """Effective balances of the validators active in the justified checkpoint state, by index."""
    state = _checkpoint_state(store, store.justified_checkpoint)
    active = get_active_validator_indices(state, get_current_epoch(state))
    balances = [0] * len(state.validators)
    for i in active:
        balances[i] = state.validators[i].effective_balance
    return balances


# spec v0.8.2: Fork choice / Helpers / get_latest_attesting_balance
def get_latest_attesting_balance(store: Store, root: bytes) -> int:
    state = _checkpoint_state(store, store.justified_checkpoint)
    active_indices = get_active_validator_indices(state, get_current_epoch(state))
    return sum(
        state.validators[i].effective_balance for i in active_indices
        if (i in store.latest_messages
            and store.latest_messages[i].root in store.blocks  # (unknown roots count for nothing)
            and get_ancestor(store, store.latest_messages[i].root, store.blocks[root].slot) == root)
    )


# spec v0.8.2: Fork choice / Helpers / get_head (verbatim: validators x blocks per call)
def get_head_naive(store: Store) -> bytes:
    # Execute the LMD-GHOST fork choice
    head = bytes(store.justified_checkpoint.root)
    justified_slot = compute_start_slot_of_epoch(store.justified_checkpoint.epoch, cfg=store.config)
    while True:
        children = [
            root for root in store.blocks.keys()
            if store.blocks[root].parent_root == head and store.blocks[root].slot > justified_slot
        ]
        if len(children) == 0:
            return head
        # Sort by latest attesting balance with ties broken lexicographically
        head = max(children, key=lambda root: (get_latest_attesting_balance(store, root), root))


# spec v0.8.2: Fork choice / Helpers / get_head
def get_head(store: Store) -> bytes:
    # Same result as get_head_naive; the weights are updated from the votes that changed.
    proto = store.proto
    assert proto is not None
    key = cp_key(store.justified_checkpoint)
    balances = None
    if store.balances_key != key:
        balances = justified_balances(store)
        store.balances_key = key
    proto.apply_changes(balances)
    justified_slot = compute_start_slot_of_epoch(key[0], cfg=store.config)
    return proto.find_head(key[1], justified_slot)


# spec v0.8.2: Fork choice / Handlers / on_tick
def on_tick(store: Store, time: int) -> None:
    store.time = time


def check_block(store: Store, block: Any) -> bytes:
    """The cheap part of on_block (everything before the state transition); returns the root."""
    cfg = block.config
    parent = bytes(block.parent_root)
    if parent not in store.blocks:
        raise UnknownParent(f"parent 0x{parent.hex()[:16]} is unknown")
    genesis_time = store.genesis_time  # the same in every state of the chain
    # Blocks cannot be in the future. If they are, their consideration must be delayed until the are in the past.
    if not store.time >= genesis_time + block.slot * cfg.SECONDS_PER_SLOT:
        raise FutureBlock(f"block at slot {block.slot} is from the future")
    root = block.signing_root()
    # Check block is a descendant of the finalized block (the parent is; the block is after it)
    fin_root = bytes(store.finalized_checkpoint.root)
    fin_slot = store.blocks[fin_root].slot
    if block.slot <= fin_slot or get_ancestor(store, parent, fin_slot) != fin_root:
        raise FinalizedConflict(f"block at slot {block.slot} does not descend from the finalized block")
    # Check that block is later than the finalized epoch slot
    if not block.slot > compute_start_slot_of_epoch(store.finalized_checkpoint.epoch, cfg=cfg):
        raise FinalizedConflict(f"block at slot {block.slot} is not after the finalized epoch's start")
    return root


def add_block(store: Store, root: bytes, block: Any, state: Any) -> None:
    """The bookkeeping part of on_block, after a successful state transition."""
    add_block_checkpoints(store, root, block, state.current_justified_checkpoint, state.finalized_checkpoint, state)


def add_block_checkpoints(store: Store, root: bytes, block: Any, justified: Any, finalized: Any,
                          state: Any | None) -> None:
    """add_block given the post-state's checkpoints; `state` None leaves the post-state to
    store.state_loader (a segment of range sync keeps only some post-states)."""
    store.blocks[root] = block
    # Add new state for this block to the store
    if state is not None:
        store.block_states[root] = state
    store.proto.add_block(root, block.slot, bytes(block.parent_root))  # type: ignore[union-attr]

    # Update justified checkpoint
    if justified.epoch > store.justified_checkpoint.epoch:
        store.justified_checkpoint = justified.copy()

    # Update finalized checkpoint
    if finalized.epoch > store.finalized_checkpoint.epoch:
        store.finalized_checkpoint = finalized.copy()


# spec v0.8.2: Fork choice / Handlers / on_block
def on_block(store: Store, block: Any) -> None:
    from beacon.state.slots import state_transition

    root = check_block(store, block)
    # Make a copy of the state to avoid mutability issues
    pre_state = store.block_state(bytes(block.parent_root)).copy()
    # Check the block is valid and compute the post-state
    state = state_transition(pre_state, block)
    add_block(store, root, block, state)


def attestation_checkpoint_state(store: Store, attestation: Any) -> Any:
    """on_attestation up to the signature check: the target state, or ForkChoiceError."""
    cfg = attestation.config
    target = attestation.data.target

    # Cannot calculate the current shuffling if have not seen the target
    if bytes(target.root) not in store.blocks:
        raise UnknownTarget(f"target block 0x{bytes(target.root).hex()[:16]} is unknown")

    # Attestations cannot be from future epochs. If they are, delay consideration until the epoch arrives
    genesis_time = store.genesis_time
    if not store.time >= genesis_time + compute_start_slot_of_epoch(target.epoch, cfg=cfg) * cfg.SECONDS_PER_SLOT:
        raise FutureAttestation(f"attestation for epoch {target.epoch} is from the future")

    # Store target checkpoint state if not yet seen
    target_state = _checkpoint_state(store, target)

    # Attestations can only affect the fork choice of subsequent slots.
    # Delay consideration in the fork choice until their slot is in the past.
    # (v0.8.2 omits genesis_time here; without it the check can never fail.)
    attestation_slot = get_attestation_data_slot(target_state, attestation.data)
    if not store.time >= genesis_time + (attestation_slot + 1) * cfg.SECONDS_PER_SLOT:
        raise FutureAttestation(f"attestation for slot {attestation_slot} cannot count before slot {attestation_slot + 1}")
    return target_state


def apply_attestation_votes(store: Store, target_epoch: int, block_root: bytes, indices: Any) -> list[int]:
    """Update latest messages; returns the validators whose message changed (to persist)."""
    changed = []
    for i in indices:
        i = int(i)
        current = store.latest_messages.get(i)
        if current is None or target_epoch > current.epoch:
            store.latest_messages[i] = LatestMessage(epoch=target_epoch, root=block_root)
            store.proto.process_vote(i, block_root)  # type: ignore[union-attr]
            changed.append(i)
    return changed


# spec v0.8.2: Fork choice / Handlers / on_attestation
def on_attestation(store: Store, attestation: Any) -> list[int]:
    target_state = attestation_checkpoint_state(store, attestation)

    # Get state at the `target` to validate attestation and calculate the committees
    try:
        indexed_attestation = get_indexed_attestation(target_state, attestation)
    except (AssertionError, IndexError, ValueError) as e:
        raise InvalidAttestation(f"attestation does not match its committee: {e}") from None
    if not is_valid_indexed_attestation(target_state, indexed_attestation):
        raise InvalidAttestation("invalid indexed attestation (indices or signature)")

    # Update latest messages
    return apply_attestation_votes(
        store, int(attestation.data.target.epoch), bytes(attestation.data.beacon_block_root),
        list(indexed_attestation.custody_bit_0_indices) + list(indexed_attestation.custody_bit_1_indices))


def prune_store(store: Store) -> list[bytes]:
    """Drop everything that no longer descends from the finalized block (not in the spec:
    the spec's Store grows forever). Returns the removed block roots."""
    fin = bytes(store.finalized_checkpoint.root)
    removed = store.proto.prune(fin)  # type: ignore[union-attr]
    for root in removed:
        store.blocks.pop(root, None)
        store.block_states.pop(root, None)
    fin_epoch = int(store.finalized_checkpoint.epoch)
    for key in [k for k in store.checkpoint_states if k[0] < fin_epoch or k[1] in removed]:
        if key != cp_key(store.justified_checkpoint):
            del store.checkpoint_states[key]
    return removed


__all__ = [
    "ForkChoiceError", "LatestMessage", "Store", "get_genesis_store", "get_ancestor", "get_latest_attesting_balance",
    "get_head", "get_head_naive", "on_tick", "on_block", "on_attestation", "check_block", "add_block",
    "attestation_checkpoint_state", "apply_attestation_votes", "prune_store", "justified_balances", "cp_key",
]
