"""Crosslinks (0_beacon-chain.md v0.8.2, "Epoch processing / Crosslinks") and the crosslink winner."""
from __future__ import annotations

from typing import Any, Set, Tuple

from beacon.state.accessors import get_committee_count, get_current_epoch, get_previous_epoch, get_start_shard
from beacon.state.epoch.participation import participation_scope


# spec v0.8.2: Epoch processing / Helper functions / get_winning_crosslink_and_attesting_indices
def get_winning_crosslink_and_attesting_indices(state: Any, epoch: int, shard: int) -> Tuple[Any, Set[int]]:
    # The spec's filter-and-max over the shard's attestations, read from the candidates grouped once
    # per epoch; the parent-root filter is applied now, against state.current_crosslinks as it is.
    with participation_scope(state) as part:
        crosslink, indices, _balance = part.for_epoch(epoch).winning_crosslink(shard)
    return crosslink, set(indices.tolist())


# spec v0.8.2: Epoch processing / Crosslinks / process_crosslinks
def process_crosslinks(state: Any) -> None:
    cfg = state.config
    # state.previous_crosslinks = [c for c in state.current_crosslinks], written only where the two
    # differ (the shards crosslinked last epoch): the same value without copying every crosslink.
    previous, current = state.previous_crosslinks, state.current_crosslinks
    for shard in range(cfg.SHARD_COUNT):
        if previous[shard].hash_tree_root() != current[shard].hash_tree_root():
            previous[shard] = current[shard]
    with participation_scope(state) as part:
        for epoch in (get_previous_epoch(state), get_current_epoch(state)):
            attesters = part.for_epoch(epoch)
            start_shard = get_start_shard(state, epoch)  # what the spec recomputes per committee
            for offset in range(get_committee_count(state, epoch)):
                shard = (start_shard + offset) % cfg.SHARD_COUNT
                committee_balance = part.committee_total(epoch, shard)
                winning_crosslink, _indices, attesting_balance = attesters.winning_crosslink(shard)
                if 3 * attesting_balance >= 2 * committee_balance:
                    state.current_crosslinks[shard] = winning_crosslink
