"""Validator assignments (0_beacon-chain-validator.md v0.8.2, "Validator assignments").

`get_committee_assignment` and `is_proposer` are the spec's. The duty loop needs the
assignments of all its validators at once; `epoch_attester_duties` walks the epoch's committees
once instead of once per validator and is checked against the spec function in tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from beacon.state import (
    compute_start_slot_of_epoch, get_beacon_proposer_index, get_committee_count, get_crosslink_committee,
    get_current_epoch, get_start_shard,
)


# spec v0.8.2: Validator assignments / get_committee_assignment
def get_committee_assignment(state: Any, epoch: int,
                             validator_index: int) -> Optional[tuple[Sequence[int], int, int]]:
    """(committee, shard, slot) of `validator_index` in `epoch` (<= next epoch), or None."""
    cfg = state.config
    next_epoch = get_current_epoch(state) + 1
    assert epoch <= next_epoch

    committees_per_slot = get_committee_count(state, epoch) // cfg.SLOTS_PER_EPOCH
    start_slot = compute_start_slot_of_epoch(epoch, cfg=cfg)
    for slot in range(start_slot, start_slot + cfg.SLOTS_PER_EPOCH):
        offset = committees_per_slot * (slot % cfg.SLOTS_PER_EPOCH)
        slot_start_shard = (get_start_shard(state, epoch) + offset) % cfg.SHARD_COUNT
        for i in range(committees_per_slot):
            shard = (slot_start_shard + i) % cfg.SHARD_COUNT
            committee = get_crosslink_committee(state, epoch, shard)
            if validator_index in committee:
                return committee, shard, slot
    return None


# spec v0.8.2: Validator assignments / is_proposer (state must be at the slot in question)
def is_proposer(state: Any, validator_index: int) -> bool:
    return get_beacon_proposer_index(state) == validator_index


@dataclass(frozen=True)
class AttesterDuty:
    slot: int
    shard: int
    committee: tuple[int, ...]
    validators: tuple[int, ...]  # ours in this committee, in committee order

    def position(self, validator: int) -> int:
        return self.committee.index(validator)


def epoch_attester_duties(state: Any, epoch: int, validators: Iterable[int]) -> dict[int, list[AttesterDuty]]:
    """slot -> duties of our `validators` in `epoch`: the same answer as calling
    get_committee_assignment per validator, from one pass over the epoch's committees."""
    cfg = state.config
    assert epoch <= get_current_epoch(state) + 1
    ours = set(validators)
    out: dict[int, list[AttesterDuty]] = {}
    if not ours:
        return out
    committees_per_slot = get_committee_count(state, epoch) // cfg.SLOTS_PER_EPOCH
    start_slot = compute_start_slot_of_epoch(epoch, cfg=cfg)
    start_shard = get_start_shard(state, epoch)
    for slot in range(start_slot, start_slot + cfg.SLOTS_PER_EPOCH):
        offset = committees_per_slot * (slot % cfg.SLOTS_PER_EPOCH)
        for i in range(committees_per_slot):
            shard = (start_shard + offset + i) % cfg.SHARD_COUNT
            committee = tuple(int(v) for v in get_crosslink_committee(state, epoch, shard))
            mine = tuple(v for v in committee if v in ours)
            if mine:
                out.setdefault(slot, []).append(AttesterDuty(slot, shard, committee, mine))
    return out
