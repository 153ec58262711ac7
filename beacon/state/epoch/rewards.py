"""Rewards and penalties (0_beacon-chain.md v0.8.2, "Epoch processing / Rewards and penalties").

The deltas are computed for all validators at once from the epoch's participation. Exactness:
every per-validator quantity is a lookup in a small table (one entry per distinct effective
balance, or per (effective balance, inclusion delay)) whose entries are computed with Python ints
exactly as the spec writes them; the arrays only add entries up. A validator receives at most
n + 16 entries, so the sums run in int64 when every entry is below 2**63 // (n + 16) and in
exact Python ints (object arrays) otherwise (never the case for effective balances up to
MAX_EFFECTIVE_BALANCE). Balances are then updated with Python ints and written back once.
"""
from __future__ import annotations

from typing import Any, Sequence, Tuple

import numpy as np

from beacon.state.accessors import (
    get_committee_count, get_current_epoch, get_start_shard, get_total_active_balance,
)
from beacon.state.epoch.helpers import GENESIS_EPOCH
from beacon.state.epoch.participation import EpochParticipation, participation_scope
from beacon.state.math import integer_squareroot


# spec v0.8.2: Epoch processing / Rewards and penalties / get_base_reward
def get_base_reward(state: Any, index: int) -> int:
    cfg = state.config
    total_balance = get_total_active_balance(state)
    effective_balance = state.validators[index].effective_balance
    return effective_balance * cfg.BASE_REWARD_FACTOR // integer_squareroot(total_balance) // cfg.BASE_REWARDS_PER_EPOCH


class _Deltas:
    """Per-validator sums of exact table entries (int64 while provably safe, else Python ints)."""

    def __init__(self, n: int) -> None:
        self.bound = (2**63 - 1) // (n + 16)
        self.values = np.zeros(n, dtype=np.int64)

    def _table(self, entries: list[int]) -> np.ndarray:
        if self.values.dtype != object and entries and (max(entries) > self.bound or min(entries) < -self.bound):
            self.values = self.values.astype(object)
        return np.array(entries, dtype=self.values.dtype)

    def add(self, indices: np.ndarray, entries: list[int], keys: np.ndarray) -> None:
        """values[indices[i]] += entries[keys[i]]; indices must be distinct."""
        table = self._table(entries)
        if len(indices):
            self.values[indices] += table[keys]

    def add_repeated(self, indices: np.ndarray, entries: list[int], keys: np.ndarray) -> None:
        """The same, for indices that may repeat (each occurrence adds)."""
        table = self._table(entries)
        if len(indices):
            np.add.at(self.values, indices, table[keys])


def attestation_deltas(part: EpochParticipation) -> Tuple[np.ndarray, np.ndarray]:
    """get_attestation_deltas for all validators at once, as arrays."""
    state = part.state
    cfg = state.config
    n = part.n
    previous_epoch = part.previous_epoch
    total_balance = part.total_active_balance
    classes, class_balances, base_rewards = part.base_reward_classes
    attesters = part.for_epoch(previous_epoch)
    rewards, penalties = _Deltas(n), _Deltas(n)
    eligible = np.flatnonzero(part.eligible)
    eligible_classes = classes[eligible]

    # Micro-incentives for matching FFG source, FFG target, and head
    for attesting in (attesters.unslashed_source, attesters.unslashed_target, attesters.unslashed_head):
        attesting_balance = part.total_of(np.flatnonzero(attesting))
        hit = attesting[eligible]
        rewards.add(eligible[hit], [b * attesting_balance // total_balance for b in base_rewards],
                    eligible_classes[hit])
        penalties.add(eligible[~hit], base_rewards, eligible_classes[~hit])

    # Proposer and inclusion delay micro-rewards, from each attester's earliest inclusion
    attesting = np.flatnonzero(attesters.unslashed_source)
    if len(attesting):
        chosen = attesters.earliest_inclusion[attesting]
        attesting_classes = classes[attesting]
        proposers = np.array([a.proposer_index for a in attesters.attestations], dtype=np.int64)
        proposer_rewards = [b // cfg.PROPOSER_REWARD_QUOTIENT for b in base_rewards]
        rewards.add_repeated(proposers[chosen], proposer_rewards, attesting_classes)
        delays = [a.inclusion_delay for a in attesters.attestations]
        distinct = sorted(set(delays))
        position = {d: i for i, d in enumerate(distinct)}
        delay_keys = np.array([position[d] for d in delays], dtype=np.int64)
        inclusion_rewards = [
            (b - p) * (cfg.SLOTS_PER_EPOCH + cfg.MIN_ATTESTATION_INCLUSION_DELAY - d) // cfg.SLOTS_PER_EPOCH
            for b, p in zip(base_rewards, proposer_rewards) for d in distinct
        ]
        rewards.add(attesting, inclusion_rewards, attesting_classes * len(distinct) + delay_keys[chosen])

    # Inactivity penalty
    finality_delay = previous_epoch - state.finalized_checkpoint.epoch
    if finality_delay > cfg.MIN_EPOCHS_TO_INACTIVITY_PENALTY:
        penalties.add(eligible, [cfg.BASE_REWARDS_PER_EPOCH * b for b in base_rewards], eligible_classes)
        missed = ~attesters.unslashed_target[eligible]
        penalties.add(eligible[missed], [e * finality_delay // cfg.INACTIVITY_PENALTY_QUOTIENT for e in class_balances],
                      eligible_classes[missed])

    return rewards.values, penalties.values


def crosslink_deltas(part: EpochParticipation) -> Tuple[np.ndarray, np.ndarray]:
    """get_crosslink_deltas for all validators at once, as arrays."""
    state = part.state
    cfg = state.config
    classes, _class_balances, base_rewards = part.base_reward_classes
    rewards, penalties = _Deltas(part.n), _Deltas(part.n)
    epoch = part.previous_epoch
    attesters = part.for_epoch(epoch)
    start_shard = get_start_shard(state, epoch)
    member = np.zeros(part.n, dtype=bool)
    for offset in range(get_committee_count(state, epoch)):
        shard = (start_shard + offset) % cfg.SHARD_COUNT
        committee = part.committee(epoch, shard)
        _winning_crosslink, attesting, attesting_balance = attesters.winning_crosslink(shard)
        committee_balance = part.committee_total(epoch, shard)
        member[attesting] = True  # membership through one reusable mask, cleared right after
        hit = member[committee]
        member[attesting] = False
        rewards.add(committee[hit], [b * attesting_balance // committee_balance for b in base_rewards],
                    classes[committee[hit]])
        penalties.add(committee[~hit], base_rewards, classes[committee[~hit]])
    return rewards.values, penalties.values


# spec v0.8.2: Epoch processing / Rewards and penalties / get_attestation_deltas
def get_attestation_deltas(state: Any) -> Tuple[Sequence[int], Sequence[int]]:
    with participation_scope(state) as part:
        rewards, penalties = attestation_deltas(part)
    return rewards.tolist(), penalties.tolist()


# spec v0.8.2: Epoch processing / Rewards and penalties / get_crosslink_deltas
def get_crosslink_deltas(state: Any) -> Tuple[Sequence[int], Sequence[int]]:
    with participation_scope(state) as part:
        rewards, penalties = crosslink_deltas(part)
    return rewards.tolist(), penalties.tolist()


# spec v0.8.2: Epoch processing / Rewards and penalties / process_rewards_and_penalties
def process_rewards_and_penalties(state: Any) -> None:
    if get_current_epoch(state) == GENESIS_EPOCH:
        return

    with participation_scope(state) as part:
        rewards1, penalties1 = attestation_deltas(part)
        rewards2, penalties2 = crosslink_deltas(part)
    rewards = rewards1 + rewards2
    penalties = penalties1 + penalties2
    balances = state.balances.items()
    # increase_balance then decrease_balance (floored at 0) for every index, written back at once:
    # in int64 when nothing can overflow (balances and deltas far below 2**62), else Python ints.
    current = None
    if rewards.dtype != object and penalties.dtype != object and balances:
        try:
            current = np.array(balances, dtype=np.int64)
        except OverflowError:  # a balance of 2**63 or more: Python ints below
            current = None
    if (current is not None and int(current.max()) < 2**62
            and int(rewards.max()) < 2**62 and int(penalties.max()) < 2**62):
        new = current + rewards - penalties
        np.maximum(new, 0, out=new)
        state.balances.set_all(new.tolist())
        return
    state.balances.set_all([
        b if (b := balance + reward - penalty) > 0 else 0
        for balance, reward, penalty in zip(balances, rewards.tolist(), penalties.tolist())
    ])
