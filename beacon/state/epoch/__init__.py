"""Epoch processing (0_beacon-chain.md v0.8.2, "Epoch processing"): one module per step.

The steps keep the spec's names and signatures; the ones that read the pending attestations
(justification, crosslinks, rewards) share one participation computed once per epoch
(participation.py explains what it holds and why that is sound).
"""
from __future__ import annotations

from typing import Any

from beacon.state.epoch.crosslinks import get_winning_crosslink_and_attesting_indices, process_crosslinks
from beacon.state.epoch.final_updates import process_final_updates
from beacon.state.epoch.helpers import (
    get_attesting_balance, get_matching_head_attestations, get_matching_source_attestations,
    get_matching_target_attestations, get_unslashed_attesting_indices,
)
from beacon.state.epoch.justification import process_justification_and_finalization
from beacon.state.epoch.participation import participation_scope
from beacon.state.epoch.registry import process_registry_updates
from beacon.state.epoch.rewards import (
    get_attestation_deltas, get_base_reward, get_crosslink_deltas, process_rewards_and_penalties,
)
from beacon.state.epoch.slashings import process_slashings

__all__ = [
    "process_epoch", "process_justification_and_finalization", "process_crosslinks",
    "process_rewards_and_penalties", "process_registry_updates", "process_slashings",
    "process_final_updates", "get_matching_source_attestations", "get_matching_target_attestations",
    "get_matching_head_attestations", "get_unslashed_attesting_indices", "get_attesting_balance",
    "get_winning_crosslink_and_attesting_indices", "get_base_reward", "get_attestation_deltas",
    "get_crosslink_deltas",
]


# spec v0.8.2: Epoch processing / process_epoch
def process_epoch(state: Any) -> None:
    # One participation for the steps that read the pending attestations; none of them changes
    # what it is built from (validators, attestations, block roots, committees).
    with participation_scope(state):
        process_justification_and_finalization(state)
        process_crosslinks(state)
        process_rewards_and_penalties(state)
    process_registry_updates(state)
    # @process_reveal_deadlines
    # @process_challenge_deadlines
    process_slashings(state)
    process_final_updates(state)
    # @after_process_final_updates
