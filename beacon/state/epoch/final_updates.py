"""Final updates (0_beacon-chain.md v0.8.2, "Epoch processing / Final updates").

The effective-balance hysteresis runs as one numpy pass (exact: uint64 while the values
allow it, which effective balances up to MAX_EFFECTIVE_BALANCE always do, else Python ints),
writing back only the validators whose effective balance changes. The two roots come from
beacon.state.roots, which merkleizes plain data instead of building SSZ values.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from beacon.state.accessors import (
    get_active_set, get_compact_committees_root, get_current_epoch, get_randao_mix, get_shard_delta,
)
from beacon.state.columns import columns as registry_columns
from beacon.state.columns import entry as registry_columns_entry
from beacon.state.columns import patch as registry_columns_patch
from beacon.state.roots import active_index_root

# Above this, balance + 3 * half_increment might not fit a uint64: use Python ints instead.
_UINT64_SAFE = 1 << 62


def _update_effective_balances(state: Any) -> None:
    cfg = state.config
    increment = cfg.EFFECTIVE_BALANCE_INCREMENT
    half_increment = increment // 2
    max_effective_balance = cfg.MAX_EFFECTIVE_BALANCE
    validators = state.validators.items()
    balances = state.balances.items()
    n = len(validators)
    if not n:
        return
    start = registry_columns_entry(state)
    (effective,) = registry_columns(state, "effective_balance")
    try:
        balance = np.array(balances, dtype=np.uint64)
    except OverflowError:  # not a uint64 (the spec's loop below then says how it fails)
        balance = None
    if (balance is not None and int(balance.max()) < _UINT64_SAFE and int(effective.max()) < _UINT64_SAFE
            and increment < _UINT64_SAFE):
        moved = (balance < effective) | (effective + np.uint64(3 * half_increment) < balance)
        new = np.minimum(balance - balance % np.uint64(increment), np.uint64(max_effective_balance))
        changed = np.flatnonzero(moved & (new != effective))
        for index, value in zip(changed.tolist(), new[changed].tolist()):
            validators[index].effective_balance = value
        if len(changed):  # the columns of the new registry: these rows read again
            registry_columns_patch(state, start, changed.tolist())
        return
    for validator, balance in zip(validators, balances):  # the spec's loop, in Python ints
        effective_balance = validator.effective_balance
        if balance < effective_balance or effective_balance + 3 * half_increment < balance:
            new_value = min(balance - balance % increment, max_effective_balance)
            if new_value != effective_balance:  # an equal write would only dirty the validator's root
                validator.effective_balance = new_value


# spec v0.8.2: Epoch processing / Final updates / process_final_updates
def process_final_updates(state: Any) -> None:
    cfg = state.config
    t = state.types
    current_epoch = get_current_epoch(state)
    next_epoch = current_epoch + 1
    # Reset eth1 data votes
    if (state.slot + 1) % cfg.SLOTS_PER_ETH1_VOTING_PERIOD == 0:
        state.eth1_data_votes = []
    # Update effective balances with hysteresis
    _update_effective_balances(state)
    # Set active index root
    index_epoch = next_epoch + cfg.ACTIVATION_EXIT_DELAY
    index_root_position = index_epoch % cfg.EPOCHS_PER_HISTORICAL_VECTOR
    active = get_active_set(state, index_epoch)
    state.active_index_roots[index_root_position] = active_index_root(cfg, active.indices, active.digest)
    # Set committees root
    committee_root_position = next_epoch % cfg.EPOCHS_PER_HISTORICAL_VECTOR
    state.compact_committees_roots[committee_root_position] = get_compact_committees_root(state, next_epoch)
    # Reset slashings
    state.slashings[next_epoch % cfg.EPOCHS_PER_SLASHINGS_VECTOR] = 0
    # Set randao mix
    state.randao_mixes[next_epoch % cfg.EPOCHS_PER_HISTORICAL_VECTOR] = get_randao_mix(state, current_epoch)
    # Set historical root accumulator
    if next_epoch % (cfg.SLOTS_PER_HISTORICAL_ROOT // cfg.SLOTS_PER_EPOCH) == 0:
        historical_batch = t.HistoricalBatch(block_roots=state.block_roots, state_roots=state.state_roots)
        state.historical_roots.append(historical_batch.hash_tree_root())
    # Update start shard
    state.start_shard = (state.start_shard + get_shard_delta(state, current_epoch)) % cfg.SHARD_COUNT
    # Rotate current/previous epoch attestations
    current = state.current_epoch_attestations
    state.current_epoch_attestations = []
    # The list left its slot above, so it can move without the copy that storing an owned
    # SSZ value makes (a 1,024-attestation deep copy at 300,000 validators).
    object.__setattr__(current, "_parent", None)
    state.previous_epoch_attestations = current
