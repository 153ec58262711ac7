"""Final updates (0_beacon-chain.md v0.8.2, "Epoch processing / Final updates")."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from beacon.config import Config
from beacon.ssz import List, uint64
from beacon.state.accessors import (
    get_active_validator_indices, get_compact_committees_root, get_current_epoch, get_randao_mix,
    get_shard_delta,
)


@lru_cache(maxsize=None)
def _validator_index_list(cfg: Config) -> List:
    """List[ValidatorIndex, VALIDATOR_REGISTRY_LIMIT] of this preset."""
    return List(uint64, cfg.VALIDATOR_REGISTRY_LIMIT)


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
    increment = cfg.EFFECTIVE_BALANCE_INCREMENT
    half_increment = increment // 2
    max_effective_balance = cfg.MAX_EFFECTIVE_BALANCE
    for validator, balance in zip(state.validators, state.balances.items()):
        effective_balance = validator.effective_balance
        if balance < effective_balance or effective_balance + 3 * half_increment < balance:
            new = min(balance - balance % increment, max_effective_balance)
            if new != effective_balance:  # an equal write would only dirty the validator's root
                validator.effective_balance = new
    # Set active index root
    index_epoch = next_epoch + cfg.ACTIVATION_EXIT_DELAY
    index_root_position = index_epoch % cfg.EPOCHS_PER_HISTORICAL_VECTOR
    indices_list = _validator_index_list(cfg).new(get_active_validator_indices(state, index_epoch))
    state.active_index_roots[index_root_position] = indices_list.hash_tree_root()
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
    state.previous_epoch_attestations = state.current_epoch_attestations
    state.current_epoch_attestations = []
