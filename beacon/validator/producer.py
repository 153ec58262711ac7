"""Building and signing blocks and attestations (0_beacon-chain-validator.md v0.8.2).

Pure functions over states: no clock, no I/O, no slashing protection. The duty service
(service.py) decides *when*, asks slashing protection *whether*, and then calls these.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

from beacon.crypto import bls
from beacon.state import (
    compute_epoch_of_slot, compute_start_slot_of_epoch, get_attestation_data_slot, get_block_root,
    get_block_root_at_slot, get_crosslink_committee, get_current_epoch, get_domain, get_indexed_attestation,
    get_previous_epoch, integer_squareroot, is_valid_indexed_attestation,
)
from beacon.state.signatures import defer_signatures
from beacon.state.slots import apply_block

log = logging.getLogger("beacon.validator.producer")

ZERO_HASH = b"\x00" * 32
# 0_beacon-chain-validator.md v0.8.2 "Misc"; not part of the presets' config files.
ETH1_FOLLOW_DISTANCE = 2**10


# --- block proposal ---------------------------------------------------------------------------

# spec v0.8.2: Block proposal / Randao reveal
def get_epoch_signature(state: Any, block: Any, privkey: int) -> bytes:
    cfg = state.config
    epoch = compute_epoch_of_slot(block.slot, cfg=cfg)
    domain = get_domain(state, cfg.DOMAIN_RANDAO, epoch)
    # hash_tree_root(uint64 epoch) is the epoch as 32 little-endian bytes
    return bls.sign(int(epoch).to_bytes(32, "little"), privkey, domain)


# spec v0.8.2: Block proposal / Signature
def get_block_signature(state: Any, header: Any, privkey: int) -> bytes:
    cfg = state.config
    domain = get_domain(state, cfg.DOMAIN_BEACON_PROPOSER, compute_epoch_of_slot(header.slot, cfg=cfg))
    return bls.sign(header.signing_root(), privkey, domain)


class InteropEth1:
    """The eth1 chain as the interop sees it: there is none, so every distance answers the
    genesis eth1 data, and the vote keeps repeating it (deposits never change)."""

    def __init__(self, genesis_eth1_data: Any) -> None:
        self.data = genesis_eth1_data.copy()

    def get_eth1_data(self, distance: int) -> Any:
        return self.data


# spec v0.8.2: Block proposal / Eth1 Data / get_eth1_vote (the eth1 source is injected)
def get_eth1_vote(state: Any, previous_eth1_distance: int, eth1: InteropEth1) -> Any:
    cfg = state.config
    follow = getattr(cfg, "ETH1_FOLLOW_DISTANCE", ETH1_FOLLOW_DISTANCE)
    new_eth1_data = [eth1.get_eth1_data(d) for d in range(follow, 2 * follow)]
    all_eth1_data = [eth1.get_eth1_data(d) for d in range(follow, previous_eth1_distance)]
    # Membership by root (equal containers have equal roots): the spec's `in` on lists of up
    # to 2,048 containers, per vote, would cost seconds on mainnet.
    new_roots = {d.hash_tree_root() for d in new_eth1_data}
    all_index: dict[bytes, int] = {}
    for i, d in enumerate(all_eth1_data):
        all_index.setdefault(d.hash_tree_root(), i)

    valid_votes = []
    period = cfg.SLOTS_PER_ETH1_VOTING_PERIOD
    for slot, vote in enumerate(state.eth1_data_votes):
        period_tail = slot % period >= integer_squareroot(period)
        root = vote.hash_tree_root()
        if root in new_roots or (period_tail and root in all_index):
            valid_votes.append((root, vote))

    if not valid_votes:
        return eth1.get_eth1_data(follow).copy()
    counts: dict[bytes, int] = {}
    for root, _ in valid_votes:
        counts[root] = counts.get(root, 0) + 1
    # Tiebreak by smallest distance (a vote only in new_eth1_data ranks last among equals).
    best = max(valid_votes, key=lambda rv: (counts[rv[0]], -all_index.get(rv[0], len(all_eth1_data))))
    return best[1].copy()


def is_includable(state: Any, attestation: Any) -> Optional[str]:
    """None if `attestation` passes process_attestation's checks on `state` (the proposer's
    pre-state at the block slot), signature aside; else why not."""
    cfg = state.config
    data = attestation.data
    if data.crosslink.shard >= cfg.SHARD_COUNT:
        return "shard out of range"
    current, previous = get_current_epoch(state), get_previous_epoch(state)
    if data.target.epoch not in (previous, current):
        return "target epoch is neither previous nor current"
    # An attestation made on another branch (e.g. across a healed partition) was checked against
    # that branch's committees; its target is not this chain's epoch boundary block, and with
    # other RANDAO mixes the committees differ too, so its signature would fail in this block.
    if bytes(data.target.root) != bytes(get_block_root(state, data.target.epoch)):
        return "target is not this chain's epoch boundary block (another branch)"
    att_slot = get_attestation_data_slot(state, data)
    if not att_slot + cfg.MIN_ATTESTATION_INCLUSION_DELAY <= state.slot <= att_slot + cfg.SLOTS_PER_EPOCH:
        return "outside the inclusion window"
    committee = get_crosslink_committee(state, data.target.epoch, data.crosslink.shard)
    if not len(attestation.aggregation_bits) == len(attestation.custody_bits) == len(committee):
        return "bitfield length is not the committee size"
    if data.target.epoch == current:
        if data.source != state.current_justified_checkpoint:
            return "source is not the current justified checkpoint"
        parent = state.current_crosslinks[data.crosslink.shard]
    else:
        if data.source != state.previous_justified_checkpoint:
            return "source is not the previous justified checkpoint"
        parent = state.previous_crosslinks[data.crosslink.shard]
    if data.crosslink.parent_root != parent.hash_tree_root() or data.crosslink.start_epoch != parent.end_epoch:
        return "crosslink does not extend the state's crosslink"
    if data.crosslink.end_epoch != min(data.target.epoch, parent.end_epoch + cfg.MAX_EPOCHS_PER_CROSSLINK):
        return "crosslink end epoch"
    if data.crosslink.data_root != ZERO_HASH:
        return "crosslink data root must be zero"
    return None


def _included_bits(state: Any) -> dict[bytes, int]:
    """AttestationData root -> OR of the aggregation bits already in the state (pending attestations)."""
    seen: dict[bytes, int] = {}
    for pa in list(state.previous_epoch_attestations) + list(state.current_epoch_attestations):
        key = pa.data.hash_tree_root()
        bits = 0
        for i, b in enumerate(pa.aggregation_bits):
            if b:
                bits |= 1 << i
        seen[key] = seen.get(key, 0) | bits
    return seen


def select_attestations(state: Any, candidates: Sequence[tuple[Any, bool]],
                        verified_cache: Optional[set] = None) -> list[Any]:
    """Up to MAX_ATTESTATIONS attestations that are valid for a block on `state` and add
    validators not yet on chain, the most new validators first ("to maximize profit").

    Candidates whose signature nobody has checked yet (held gossip) are verified here, once."""
    cfg = state.config
    seen = _included_bits(state)
    scored = []
    for att, verified in candidates:
        if is_includable(state, att) is not None:
            continue
        bits = 0
        for i, b in enumerate(att.aggregation_bits):
            if b:
                bits |= 1 << i
        new = bits & ~seen.get(att.data.hash_tree_root(), 0)
        if new == 0:
            continue
        scored.append((bin(new).count("1"), att, verified))
    scored.sort(key=lambda x: -x[0])
    chosen = []
    for _, att, verified in scored:
        if len(chosen) >= cfg.MAX_ATTESTATIONS:
            break
        key = att.hash_tree_root()
        if not verified and (verified_cache is None or key not in verified_cache):
            if not is_valid_indexed_attestation(state, get_indexed_attestation(state, att)):
                log.debug("pooled attestation with a bad signature skipped")
                continue
            if verified_cache is not None:
                verified_cache.add(key)
        chosen.append(att)
    return chosen


def produce_block(state: Any, parent_root: bytes, slot: int, privkey: int, *, eth1_data: Any,
                  attestations: Sequence[Any] = (), proposer_slashings: Sequence[Any] = (),
                  attester_slashings: Sequence[Any] = (), voluntary_exits: Sequence[Any] = (),
                  graffiti: bytes = b"") -> tuple[Any, Any]:
    """An unsigned-then-signed block at `slot` on `parent_root`; `state` is the parent's
    post-state already advanced to `slot` (process_slots). Returns (block, post_state).

    The spec's recipe: run the transition on the block with a stub state root and no
    signature checks, take hash_tree_root of the result, then sign."""
    t = state.types
    block = t.BeaconBlock(slot=slot, parent_root=parent_root)
    body = t.BeaconBlockBody(
        randao_reveal=get_epoch_signature(state, block, privkey),
        eth1_data=eth1_data,
        graffiti=graffiti.ljust(32, b"\x00")[:32],
        proposer_slashings=list(proposer_slashings),
        attester_slashings=list(attester_slashings),
        attestations=list(attestations),
        deposits=[],  # interop: the eth1 data never moves, so no deposits are ever pending
        voluntary_exits=list(voluntary_exits),
    )
    block.body = body
    # Signatures deferred and never checked: the block is not signed yet. (Not bls.enabled(False):
    # that flag is process-wide, and sync verifies signature batches in a worker thread.)
    with defer_signatures():
        post = apply_block(state, block, validate_state_root=False)
    block.state_root = post.hash_tree_root()
    return block, post


def sign_block(state: Any, block: Any, privkey: int) -> None:
    block.signature = get_block_signature(state, block, privkey)


# --- attestations -------------------------------------------------------------------------------

def get_attestation_data(head_state: Any, head_root: bytes, shard: int) -> Any:
    """AttestationData for a committee of `shard`, per "Attestation data": head_state is the
    head block's state processed through empty slots up to the assigned slot."""
    t = head_state.types
    cfg = head_state.config
    epoch = get_current_epoch(head_state)
    start_slot = compute_start_slot_of_epoch(epoch, cfg=cfg)
    epoch_boundary_block_root = head_root if start_slot == head_state.slot else get_block_root_at_slot(head_state, start_slot)
    parent_crosslink = head_state.current_crosslinks[shard]
    return t.AttestationData(
        beacon_block_root=head_root,
        source=head_state.current_justified_checkpoint.copy(),
        target=t.Checkpoint(epoch=epoch, root=epoch_boundary_block_root),
        crosslink=t.Crosslink(
            shard=shard,
            parent_root=parent_crosslink.hash_tree_root(),
            start_epoch=parent_crosslink.end_epoch,
            end_epoch=min(epoch, parent_crosslink.end_epoch + cfg.MAX_EPOCHS_PER_CROSSLINK),
            data_root=ZERO_HASH,  # a stub in phase 0
        ),
    )


# spec v0.8.2: Construct attestation / Aggregate signature
def get_signed_attestation_data(state: Any, attestation: Any, privkey: int) -> bytes:
    t = state.types
    attestation_data_and_custody_bit = t.AttestationDataAndCustodyBit(data=attestation.data, custody_bit=False)
    domain = get_domain(state, state.config.DOMAIN_ATTESTATION, attestation.data.target.epoch)
    return bls.sign(attestation_data_and_custody_bit.hash_tree_root(), privkey, domain)


def make_attestation(state: Any, data: Any, committee: Sequence[int], signers: dict[int, int]) -> Any:
    """One Attestation for `data` by `signers` (validator -> privkey, all in `committee`):
    each signs the same message, and identical data aggregates into one object."""
    t = state.types
    unsigned = t.Attestation(aggregation_bits=[False] * len(committee), data=data,
                             custody_bits=[False] * len(committee))  # custody bits: a phase-0 stub
    position = {v: i for i, v in enumerate(committee)}
    signed_at = {position[v] for v in signers}
    unsigned.aggregation_bits = [i in signed_at for i in range(len(committee))]
    # Every signer signs the same message M, so the aggregate sum_i [sk_i]H(M) is [sum_i sk_i]H(M):
    # one signature with the summed key is bit for bit the aggregate of the individual ones
    # (tests/validator check it), at the cost of one instead of len(signers) G2 multiplications
    # plus decoding each back for the sum (512 signers at 4,096 validators: ~1 ms, not ~0.5 s).
    unsigned.signature = get_signed_attestation_data(state, unsigned, sum(signers.values()) % bls.CURVE_ORDER)
    return unsigned
