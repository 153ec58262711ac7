"""The epoch-processing helper functions of the spec (0_beacon-chain.md v0.8.2, "Epoch processing /
Helper functions"), as the spec writes them.

These take arbitrary attestation lists, so they stay literal; the epoch steps themselves read the
same quantities from the once-per-epoch participation (participation.py). The crosslink winner,
whose spec form is quadratic in the attestations of a shard, lives in crosslinks.py on top of it.
"""
from __future__ import annotations

from typing import Any, Sequence, Set

from beacon.state.accessors import (
    get_attestation_data_slot, get_attesting_indices, get_block_root, get_block_root_at_slot,
    get_current_epoch, get_previous_epoch, get_total_balance,
)
from beacon.state.misc import GENESIS_EPOCH

__all__ = [
    "GENESIS_EPOCH", "get_matching_source_attestations", "get_matching_target_attestations",
    "get_matching_head_attestations", "get_unslashed_attesting_indices", "get_attesting_balance",
]


# spec v0.8.2: Epoch processing / Helper functions / get_matching_source_attestations
def get_matching_source_attestations(state: Any, epoch: int) -> Sequence[Any]:
    assert epoch in (get_previous_epoch(state), get_current_epoch(state))
    return state.current_epoch_attestations if epoch == get_current_epoch(state) else state.previous_epoch_attestations


# spec v0.8.2: Epoch processing / Helper functions / get_matching_target_attestations
def get_matching_target_attestations(state: Any, epoch: int) -> Sequence[Any]:
    return [
        a for a in get_matching_source_attestations(state, epoch)
        if a.data.target.root == get_block_root(state, epoch)
    ]


# spec v0.8.2: Epoch processing / Helper functions / get_matching_head_attestations
def get_matching_head_attestations(state: Any, epoch: int) -> Sequence[Any]:
    return [
        a for a in get_matching_source_attestations(state, epoch)
        if a.data.beacon_block_root == get_block_root_at_slot(state, get_attestation_data_slot(state, a.data))
    ]


# spec v0.8.2: Epoch processing / Helper functions / get_unslashed_attesting_indices
def get_unslashed_attesting_indices(state: Any, attestations: Sequence[Any]) -> Set[int]:
    output: Set[int] = set()
    for a in attestations:
        output = output.union(get_attesting_indices(state, a.data, a.aggregation_bits))
    return set(filter(lambda index: not state.validators[index].slashed, output))


# spec v0.8.2: Epoch processing / Helper functions / get_attesting_balance
def get_attesting_balance(state: Any, attestations: Sequence[Any]) -> int:
    return get_total_balance(state, get_unslashed_attesting_indices(state, attestations))
