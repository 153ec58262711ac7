"""The epoch transition exactly as the spec text writes it (0_beacon-chain.md v0.8.2, "Epoch
processing"), line for line. Never used by process_epoch: it is the reference the fast path is
checked against (tests/state/test_epoch.py) and the baseline of benchmarks/state_transition.py.

It shares the state accessors (and so their committee caches) with the fast path; everything
epoch-specific here is the spec's own quadratic form.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence, Set, Tuple

from beacon.config import Config
from beacon.ssz import List, Vector, uint64

from beacon.state.accessors import (
    get_active_validator_indices, get_attesting_indices, get_block_root, get_committee_count,
    get_crosslink_committee, get_current_epoch, get_previous_epoch,
    get_randao_mix, get_shard_delta, get_start_shard, get_total_balance, get_total_active_balance,
    get_validator_churn_limit,
)
from beacon.state.epoch.helpers import (
    GENESIS_EPOCH, get_attesting_balance, get_matching_head_attestations, get_matching_source_attestations,
    get_matching_target_attestations, get_unslashed_attesting_indices,
)
from beacon.state.math import integer_squareroot
from beacon.state.misc import compute_activation_exit_epoch
from beacon.state.mutators import decrease_balance, increase_balance, initiate_validator_exit
from beacon.state.predicates import is_active_validator


# spec v0.8.2: Epoch processing / process_epoch
def process_epoch(state: Any) -> None:
    process_justification_and_finalization(state)
    process_crosslinks(state)
    process_rewards_and_penalties(state)
    process_registry_updates(state)
    process_slashings(state)
    process_final_updates(state)


# spec v0.8.2: Epoch processing / Helper functions / get_winning_crosslink_and_attesting_indices
def get_winning_crosslink_and_attesting_indices(state: Any, epoch: int, shard: int) -> Tuple[Any, Set[int]]:
    attestations = [a for a in get_matching_source_attestations(state, epoch) if a.data.crosslink.shard == shard]
    crosslinks = filter(
        lambda c: state.current_crosslinks[shard].hash_tree_root() in (c.parent_root, c.hash_tree_root()),
        [a.data.crosslink for a in attestations]
    )
    # Winning crosslink has the crosslink data root with the most balance voting for it (ties broken lexicographically)
    winning_crosslink = max(crosslinks, key=lambda c: (
        get_attesting_balance(state, [a for a in attestations if a.data.crosslink == c]), c.data_root
    ), default=state.types.Crosslink())
    winning_attestations = [a for a in attestations if a.data.crosslink == winning_crosslink]
    return winning_crosslink, get_unslashed_attesting_indices(state, winning_attestations)


# spec v0.8.2: Epoch processing / Justification and finalization / process_justification_and_finalization
def process_justification_and_finalization(state: Any) -> None:
    if get_current_epoch(state) <= GENESIS_EPOCH + 1:
        return

    Checkpoint = state.types.Checkpoint
    previous_epoch = get_previous_epoch(state)
    current_epoch = get_current_epoch(state)
    old_previous_justified_checkpoint = state.previous_justified_checkpoint
    old_current_justified_checkpoint = state.current_justified_checkpoint

    # Process justifications
    state.previous_justified_checkpoint = state.current_justified_checkpoint
    state.justification_bits[1:] = state.justification_bits[:-1]
    state.justification_bits[0] = 0b0
    matching_target_attestations = get_matching_target_attestations(state, previous_epoch)  # Previous epoch
    if get_attesting_balance(state, matching_target_attestations) * 3 >= get_total_active_balance(state) * 2:
        state.current_justified_checkpoint = Checkpoint(epoch=previous_epoch,
                                                        root=get_block_root(state, previous_epoch))
        state.justification_bits[1] = 0b1
    matching_target_attestations = get_matching_target_attestations(state, current_epoch)  # Current epoch
    if get_attesting_balance(state, matching_target_attestations) * 3 >= get_total_active_balance(state) * 2:
        state.current_justified_checkpoint = Checkpoint(epoch=current_epoch,
                                                        root=get_block_root(state, current_epoch))
        state.justification_bits[0] = 0b1

    # Process finalizations
    bits = state.justification_bits
    if all(bits[1:4]) and old_previous_justified_checkpoint.epoch + 3 == current_epoch:
        state.finalized_checkpoint = old_previous_justified_checkpoint
    if all(bits[1:3]) and old_previous_justified_checkpoint.epoch + 2 == current_epoch:
        state.finalized_checkpoint = old_previous_justified_checkpoint
    if all(bits[0:3]) and old_current_justified_checkpoint.epoch + 2 == current_epoch:
        state.finalized_checkpoint = old_current_justified_checkpoint
    if all(bits[0:2]) and old_current_justified_checkpoint.epoch + 1 == current_epoch:
        state.finalized_checkpoint = old_current_justified_checkpoint


# spec v0.8.2: Epoch processing / Crosslinks / process_crosslinks
def process_crosslinks(state: Any) -> None:
    cfg = state.config
    state.previous_crosslinks = [c for c in state.current_crosslinks]
    for epoch in (get_previous_epoch(state), get_current_epoch(state)):
        for offset in range(get_committee_count(state, epoch)):
            shard = (get_start_shard(state, epoch) + offset) % cfg.SHARD_COUNT
            crosslink_committee = set(get_crosslink_committee(state, epoch, shard))
            winning_crosslink, attesting_indices = get_winning_crosslink_and_attesting_indices(state, epoch, shard)
            if 3 * get_total_balance(state, attesting_indices) >= 2 * get_total_balance(state, crosslink_committee):
                state.current_crosslinks[shard] = winning_crosslink


# spec v0.8.2: Epoch processing / Rewards and penalties / get_base_reward
def get_base_reward(state: Any, index: int) -> int:
    cfg = state.config
    total_balance = get_total_active_balance(state)
    effective_balance = state.validators[index].effective_balance
    return effective_balance * cfg.BASE_REWARD_FACTOR // integer_squareroot(total_balance) // cfg.BASE_REWARDS_PER_EPOCH


# spec v0.8.2: Epoch processing / Rewards and penalties / get_attestation_deltas
def get_attestation_deltas(state: Any) -> Tuple[Sequence[int], Sequence[int]]:
    cfg = state.config
    previous_epoch = get_previous_epoch(state)
    total_balance = get_total_active_balance(state)
    rewards = [0 for _ in range(len(state.validators))]
    penalties = [0 for _ in range(len(state.validators))]
    eligible_validator_indices = [
        index for index, v in enumerate(state.validators)
        if is_active_validator(v, previous_epoch) or (v.slashed and previous_epoch + 1 < v.withdrawable_epoch)
    ]

    # Micro-incentives for matching FFG source, FFG target, and head
    matching_source_attestations = get_matching_source_attestations(state, previous_epoch)
    matching_target_attestations = get_matching_target_attestations(state, previous_epoch)
    matching_head_attestations = get_matching_head_attestations(state, previous_epoch)
    for attestations in (matching_source_attestations, matching_target_attestations, matching_head_attestations):
        unslashed_attesting_indices = get_unslashed_attesting_indices(state, attestations)
        attesting_balance = get_total_balance(state, unslashed_attesting_indices)
        for index in eligible_validator_indices:
            if index in unslashed_attesting_indices:
                rewards[index] += get_base_reward(state, index) * attesting_balance // total_balance
            else:
                penalties[index] += get_base_reward(state, index)

    # Proposer and inclusion delay micro-rewards
    for index in get_unslashed_attesting_indices(state, matching_source_attestations):
        attestation = min([
            a for a in matching_source_attestations
            if index in get_attesting_indices(state, a.data, a.aggregation_bits)
        ], key=lambda a: a.inclusion_delay)
        proposer_reward = get_base_reward(state, index) // cfg.PROPOSER_REWARD_QUOTIENT
        rewards[attestation.proposer_index] += proposer_reward
        max_attester_reward = get_base_reward(state, index) - proposer_reward
        rewards[index] += (
            max_attester_reward
            * (cfg.SLOTS_PER_EPOCH + cfg.MIN_ATTESTATION_INCLUSION_DELAY - attestation.inclusion_delay)
            // cfg.SLOTS_PER_EPOCH
        )

    # Inactivity penalty
    finality_delay = previous_epoch - state.finalized_checkpoint.epoch
    if finality_delay > cfg.MIN_EPOCHS_TO_INACTIVITY_PENALTY:
        matching_target_attesting_indices = get_unslashed_attesting_indices(state, matching_target_attestations)
        for index in eligible_validator_indices:
            penalties[index] += cfg.BASE_REWARDS_PER_EPOCH * get_base_reward(state, index)
            if index not in matching_target_attesting_indices:
                penalties[index] += (
                    state.validators[index].effective_balance * finality_delay // cfg.INACTIVITY_PENALTY_QUOTIENT
                )

    return rewards, penalties


# spec v0.8.2: Epoch processing / Rewards and penalties / get_crosslink_deltas
def get_crosslink_deltas(state: Any) -> Tuple[Sequence[int], Sequence[int]]:
    cfg = state.config
    rewards = [0 for _ in range(len(state.validators))]
    penalties = [0 for _ in range(len(state.validators))]
    epoch = get_previous_epoch(state)
    for offset in range(get_committee_count(state, epoch)):
        shard = (get_start_shard(state, epoch) + offset) % cfg.SHARD_COUNT
        crosslink_committee = set(get_crosslink_committee(state, epoch, shard))
        winning_crosslink, attesting_indices = get_winning_crosslink_and_attesting_indices(state, epoch, shard)
        attesting_balance = get_total_balance(state, attesting_indices)
        committee_balance = get_total_balance(state, crosslink_committee)
        for index in crosslink_committee:
            base_reward = get_base_reward(state, index)
            if index in attesting_indices:
                rewards[index] += base_reward * attesting_balance // committee_balance
            else:
                penalties[index] += base_reward
    return rewards, penalties


# spec v0.8.2: Epoch processing / Rewards and penalties / process_rewards_and_penalties
def process_rewards_and_penalties(state: Any) -> None:
    if get_current_epoch(state) == GENESIS_EPOCH:
        return

    rewards1, penalties1 = get_attestation_deltas(state)
    rewards2, penalties2 = get_crosslink_deltas(state)
    for index in range(len(state.validators)):
        increase_balance(state, index, rewards1[index] + rewards2[index])
        decrease_balance(state, index, penalties1[index] + penalties2[index])


# spec v0.8.2: Epoch processing / Registry updates / process_registry_updates
def process_registry_updates(state: Any) -> None:
    cfg = state.config
    # Process activation eligibility and ejections
    for index, validator in enumerate(state.validators):
        if (
            validator.activation_eligibility_epoch == cfg.FAR_FUTURE_EPOCH
            and validator.effective_balance == cfg.MAX_EFFECTIVE_BALANCE
        ):
            validator.activation_eligibility_epoch = get_current_epoch(state)

        if is_active_validator(validator, get_current_epoch(state)) and validator.effective_balance <= cfg.EJECTION_BALANCE:
            initiate_validator_exit(state, index)

    # Queue validators eligible for activation and not dequeued for activation prior to finalized epoch
    activation_queue = sorted([
        index for index, validator in enumerate(state.validators)
        if validator.activation_eligibility_epoch != cfg.FAR_FUTURE_EPOCH
        and validator.activation_epoch >= compute_activation_exit_epoch(state.finalized_checkpoint.epoch, cfg=cfg)
    ], key=lambda index: state.validators[index].activation_eligibility_epoch)
    # Dequeued validators for activation up to churn limit (without resetting activation epoch)
    for index in activation_queue[:get_validator_churn_limit(state)]:
        validator = state.validators[index]
        if validator.activation_epoch == cfg.FAR_FUTURE_EPOCH:
            validator.activation_epoch = compute_activation_exit_epoch(get_current_epoch(state), cfg=cfg)


# spec v0.8.2: Epoch processing / Slashings / process_slashings
def process_slashings(state: Any) -> None:
    cfg = state.config
    epoch = get_current_epoch(state)
    total_balance = get_total_active_balance(state)
    for index, validator in enumerate(state.validators):
        if validator.slashed and epoch + cfg.EPOCHS_PER_SLASHINGS_VECTOR // 2 == validator.withdrawable_epoch:
            increment = cfg.EFFECTIVE_BALANCE_INCREMENT  # Factored out from penalty numerator to avoid uint64 overflow
            penalty_numerator = validator.effective_balance // increment * min(sum(state.slashings) * 3, total_balance)
            penalty = penalty_numerator // total_balance * increment
            decrease_balance(state, index, penalty)


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
    for index, validator in enumerate(state.validators):
        balance = state.balances[index]
        HALF_INCREMENT = cfg.EFFECTIVE_BALANCE_INCREMENT // 2
        if balance < validator.effective_balance or validator.effective_balance + 3 * HALF_INCREMENT < balance:
            validator.effective_balance = min(balance - balance % cfg.EFFECTIVE_BALANCE_INCREMENT,
                                              cfg.MAX_EFFECTIVE_BALANCE)
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


@lru_cache(maxsize=None)
def _validator_index_list(cfg: Config) -> List:
    """List[ValidatorIndex, VALIDATOR_REGISTRY_LIMIT] of this preset."""
    return List(uint64, cfg.VALIDATOR_REGISTRY_LIMIT)


# spec v0.8.2: Beacon state accessors / get_compact_committees_root
def get_compact_committees_root(state: Any, epoch: int) -> bytes:
    """The spec's form, building the SSZ values (the fast accessor merkleizes plain data)."""
    cfg = state.config
    t = state.types
    committees = [t.CompactCommittee() for _ in range(cfg.SHARD_COUNT)]
    start_shard = get_start_shard(state, epoch)
    for committee_number in range(get_committee_count(state, epoch)):
        shard = (start_shard + committee_number) % cfg.SHARD_COUNT
        for index in get_crosslink_committee(state, epoch, shard):
            validator = state.validators[index]
            committees[shard].pubkeys.append(validator.pubkey)
            compact_balance = validator.effective_balance // cfg.EFFECTIVE_BALANCE_INCREMENT
            # `index` (top 6 bytes) + `slashed` (16th bit) + `compact_balance` (bottom 15 bits)
            compact_validator = (index << 16) + (int(validator.slashed) << 15) + compact_balance
            committees[shard].compact_validators.append(compact_validator)
    return Vector(t.CompactCommittee, cfg.SHARD_COUNT).new(committees).hash_tree_root()
