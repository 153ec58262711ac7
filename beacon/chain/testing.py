"""Real signed blocks and attestations from interop keys, for tests and benchmarks.

Not a validator client (no slashing protection, no duties loop): just enough of
0_beacon-chain-validator.md v0.8.2 (block proposal, attestation data, signing) to drive the
chain through the real state transition with competing forks.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from beacon.crypto import bls
from beacon.state import (
    compute_epoch_of_slot, compute_start_slot_of_epoch, get_beacon_proposer_index, get_block_root_at_slot,
    get_committee_count, get_crosslink_committee, get_current_epoch, get_domain, get_start_shard,
)
from beacon.state.slots import apply_block, process_slots


class Keys:
    """Interop private keys by validator index (derived on first use)."""

    def __init__(self) -> None:
        self._keys: dict[int, int] = {}

    def __getitem__(self, index: int) -> int:
        k = self._keys.get(index)
        if k is None:
            from genesis.keys import interop_privkey

            k = self._keys[index] = interop_privkey(index)
        return k


KEYS = Keys()


def state_at_slot(state: Any, slot: int) -> Any:
    s = state.copy()
    if s.slot < slot:
        process_slots(s, slot)
    return s


def make_block(parent_state: Any, parent_root: bytes, slot: int, attestations: Sequence[Any] = (),
               graffiti: bytes = b"", keys: Keys = KEYS) -> tuple[Any, Any]:
    """A signed block at `slot` on top of (parent_root, parent_state); returns (block, post_state)."""
    t = parent_state.types
    cfg = parent_state.config
    pre = state_at_slot(parent_state, slot)
    epoch = get_current_epoch(pre)
    proposer = get_beacon_proposer_index(pre)
    sk = keys[proposer]
    # spec v0.8.2 validator guide: randao reveal = sign(hash_tree_root(epoch), DOMAIN_RANDAO)
    randao = bls.sign(int(epoch).to_bytes(32, "little"), sk, get_domain(pre, cfg.DOMAIN_RANDAO))
    body = t.BeaconBlockBody(randao_reveal=randao, eth1_data=pre.eth1_data.copy(),
                             graffiti=graffiti.ljust(32, b"\x00")[:32], attestations=list(attestations))
    block = t.BeaconBlock(slot=slot, parent_root=parent_root, body=body)
    with bls.enabled(False):  # dry run for the state root; the real signature comes next
        post = apply_block(parent_state, block, validate_state_root=False)
    block.state_root = post.hash_tree_root()
    block.signature = bls.sign(block.signing_root(), sk, get_domain(pre, cfg.DOMAIN_BEACON_PROPOSER))
    return block, post


def committees_at_slot(state: Any, slot: int) -> list[tuple[int, list[int]]]:
    """(shard, committee) pairs attesting at `slot` (state must be in slot's epoch or the next)."""
    cfg = state.config
    epoch = compute_epoch_of_slot(slot, cfg=cfg)
    per_slot = get_committee_count(state, epoch) // cfg.SLOTS_PER_EPOCH
    offset = (slot % cfg.SLOTS_PER_EPOCH) * per_slot
    start = get_start_shard(state, epoch)
    out = []
    for i in range(per_slot):
        shard = (start + offset + i) % cfg.SHARD_COUNT
        out.append((shard, list(get_crosslink_committee(state, epoch, shard))))
    return out


def make_attestations(head_state: Any, head_root: bytes, slot: int, participants: Optional[Iterable[int]] = None,
                      keys: Keys = KEYS) -> list[Any]:
    """One aggregate attestation per committee of `slot`, voting for head_root.

    head_state is the head block's post-state; it is advanced to `slot` if behind. Only the
    validators in `participants` (all, if None) sign.
    """
    t = head_state.types
    cfg = head_state.config
    state = state_at_slot(head_state, slot)
    epoch = get_current_epoch(state)
    start_slot = compute_start_slot_of_epoch(epoch, cfg=cfg)
    # spec: epoch_boundary_block_root is the head itself when the head is at the boundary slot
    target_root = head_root if start_slot == state.slot else get_block_root_at_slot(state, start_slot)
    who = None if participants is None else set(participants)
    out = []
    for shard, committee in committees_at_slot(state, slot):
        members = [i for i in committee if who is None or i in who]
        if not members:
            continue
        parent = state.current_crosslinks[shard]
        data = t.AttestationData(
            beacon_block_root=head_root,
            source=state.current_justified_checkpoint.copy(),
            target=t.Checkpoint(epoch=epoch, root=target_root),
            crosslink=t.Crosslink(shard=shard, parent_root=parent.hash_tree_root(), start_epoch=parent.end_epoch,
                                  end_epoch=min(epoch, parent.end_epoch + cfg.MAX_EPOCHS_PER_CROSSLINK)),
        )
        message = t.AttestationDataAndCustodyBit(data=data, custody_bit=False).hash_tree_root()
        domain = get_domain(state, cfg.DOMAIN_ATTESTATION, epoch)
        sigs = [bls.sign(message, keys[i], domain) for i in members]
        out.append(t.Attestation(
            aggregation_bits=[i in members for i in committee],
            data=data,
            custody_bits=[False] * len(committee),
            signature=bls.aggregate_signatures(sigs),
        ))
    return out


def make_epoch_attestations(head_state: Any, head_root: bytes, epoch: int,
                            participants: Optional[Iterable[int]] = None, keys: Keys = KEYS) -> list[Any]:
    """Attestations of every committee of `epoch` (each active validator once), voting head_root.

    For slots before the head (same epoch) the data comes from the head state as it is, which
    is what fork choice checks; such attestations could not be included in blocks."""
    cfg = head_state.config
    start = compute_start_slot_of_epoch(epoch, cfg=cfg)
    plist = None if participants is None else list(participants)
    out = []
    for slot in range(start, start + cfg.SLOTS_PER_EPOCH):
        out += make_attestations(head_state, head_root, slot, plist, keys)
    return out


class ChainBuilder:
    """Builds a tree of real blocks from a genesis state: build(parent, slot, ...) -> root."""

    def __init__(self, genesis_state: Any) -> None:
        t = genesis_state.types
        self.genesis_state = genesis_state
        genesis_block = t.BeaconBlock(state_root=genesis_state.hash_tree_root())
        self.genesis_root = genesis_block.signing_root()
        self.blocks: dict[bytes, Any] = {self.genesis_root: genesis_block}
        self.states: dict[bytes, Any] = {self.genesis_root: genesis_state}

    def build(self, parent_root: bytes, slot: int, attest_slots: Iterable[int] = (),
              participants: Optional[Iterable[int]] = None, attestations: Sequence[Any] = (),
              graffiti: bytes = b"") -> bytes:
        """A block at `slot` on parent_root, including attestations (by the parent chain's
        validators) for each of `attest_slots`, voting for the parent."""
        parent_state = self.states[parent_root]
        atts = list(attestations)
        for s in attest_slots:
            atts += make_attestations(parent_state, parent_root, s, participants)
        block, post = make_block(parent_state, parent_root, slot, atts, graffiti)
        root = block.signing_root()
        self.blocks[root] = block
        self.states[root] = post
        return root

    def extend(self, parent_root: bytes, start_slot: int, end_slot: int, attest: bool = True,
               participants: Optional[Iterable[int]] = None) -> list[bytes]:
        """One block per slot in [start_slot, end_slot), each carrying attestations of the
        previous slot's committees for its parent (full participation by default)."""
        roots = []
        parent = parent_root
        plist = None if participants is None else list(participants)
        for slot in range(start_slot, end_slot):
            prev = self.blocks[parent].slot
            attest_slots = [prev] if attest and prev >= start_slot - 1 and slot - 1 == prev and prev > 0 else []
            parent = self.build(parent, slot, attest_slots, plist)
            roots.append(parent)
        return roots
