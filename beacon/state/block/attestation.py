"""Block processing: attestations (0_beacon-chain.md v0.8.2, "Operations / Attestations").

The hot path of a full block (up to MAX_ATTESTATIONS of them): committees, the proposer
index and the start shard come from the epoch view cache, and the signature is only recorded
for the block's batch (signatures.py).
"""
from __future__ import annotations

from itertools import compress
from typing import Any, NamedTuple, Sequence

from beacon.state.accessors import (
    get_attestation_data_slot, get_beacon_proposer_index, get_crosslink_committee, get_current_epoch,
    get_previous_epoch,
)
from beacon.state.block._checks import require
from beacon.state.predicates import is_valid_indexed_attestation

KIND = "attestation"
ZERO_HASH = b"\x00" * 32


# spec v0.8.2: Operations / Attestations / process_attestation
def process_attestation(state: Any, attestation: Any) -> None:
    cfg = state.config
    data = attestation.data
    require(data.crosslink.shard < cfg.SHARD_COUNT, KIND, "shard out of range")
    current_epoch = get_current_epoch(state)
    require(data.target.epoch in (get_previous_epoch(state), current_epoch), KIND,
            "target epoch is neither the previous nor the current epoch")

    attestation_slot = get_attestation_data_slot(state, data)
    require(attestation_slot + cfg.MIN_ATTESTATION_INCLUSION_DELAY <= state.slot <= attestation_slot + cfg.SLOTS_PER_EPOCH,
            KIND, "outside the inclusion window")

    committee = get_crosslink_committee(state, data.target.epoch, data.crosslink.shard)
    require(len(attestation.aggregation_bits) == len(attestation.custody_bits) == len(committee), KIND,
            "bitfield lengths do not match the committee size")

    pending_attestation = state.types.PendingAttestation(
        data=data,
        aggregation_bits=attestation.aggregation_bits,
        inclusion_delay=state.slot - attestation_slot,
        proposer_index=get_beacon_proposer_index(state),
    )

    if data.target.epoch == current_epoch:
        require(data.source == state.current_justified_checkpoint, KIND, "source is not the current justified checkpoint")
        parent_crosslink = state.current_crosslinks[data.crosslink.shard]
        state.current_epoch_attestations.append(pending_attestation)
    else:
        require(data.source == state.previous_justified_checkpoint, KIND, "source is not the previous justified checkpoint")
        parent_crosslink = state.previous_crosslinks[data.crosslink.shard]
        state.previous_epoch_attestations.append(pending_attestation)

    # Check crosslink against expected parent crosslink
    require(data.crosslink.parent_root == parent_crosslink.hash_tree_root(), KIND, "crosslink parent root mismatch")
    require(data.crosslink.start_epoch == parent_crosslink.end_epoch, KIND, "crosslink start epoch mismatch")
    require(data.crosslink.end_epoch == min(data.target.epoch, parent_crosslink.end_epoch + cfg.MAX_EPOCHS_PER_CROSSLINK),
            KIND, "crosslink end epoch mismatch")
    require(data.crosslink.data_root == ZERO_HASH, KIND, "crosslink data root must be zero in phase 0")  # [to be removed in phase 1]

    # Check signature
    require(_custody_bits_subset(state, attestation), KIND, "custody bits are not a subset of the aggregation bits")
    require(is_valid_indexed_attestation(state, _indexed_attestation(attestation, committee), committee=committee),
            KIND, "invalid indexed attestation (indices or signature)")


class _IndexedView(NamedTuple):
    """What is_valid_indexed_attestation reads of get_indexed_attestation's result, without
    building the SSZ container (a copy of the data and a 128-index list per attestation)."""

    custody_bit_0_indices: list[int]
    custody_bit_1_indices: list[int]
    data: Any
    signature: bytes


def _indexed_attestation(attestation: Any, committee: Sequence[int]) -> _IndexedView:
    """get_indexed_attestation(state, attestation) for an attestation whose bitfields have the
    committee's length and whose custody bits are a subset (process_attestation checked both)."""
    attesting = set(compress(committee, attestation.aggregation_bits.items()))
    bit_1 = set(compress(committee, attestation.custody_bits.items()))
    return _IndexedView(sorted(attesting - bit_1), sorted(bit_1), attestation.data, attestation.signature)


def _custody_bits_subset(state: Any, attestation: Any) -> bool:
    """get_indexed_attestation's `assert custody_bit_1_indices.issubset(attesting_indices)`,
    checked here so it fails as this operation's error rather than a bare AssertionError.
    The lengths are equal by now, so comparing bit by bit is the same test."""
    custody = attestation.custody_bits.items()
    if not any(custody):  # phase 0: custody bits are all zero in every valid attestation
        return True
    return all(a or not c for a, c in zip(attestation.aggregation_bits.items(), custody))
