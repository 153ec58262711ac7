"""Justification and finalization (0_beacon-chain.md v0.8.2, "Epoch processing / Justification and
finalization"). The attesting balances come from the epoch's participation, the rest is the spec."""
from __future__ import annotations

from typing import Any

from beacon.state.accessors import get_block_root, get_current_epoch, get_previous_epoch
from beacon.state.epoch.helpers import GENESIS_EPOCH
from beacon.state.epoch.participation import participation_scope


# spec v0.8.2: Epoch processing / Justification and finalization / process_justification_and_finalization
def process_justification_and_finalization(state: Any) -> None:
    if get_current_epoch(state) <= GENESIS_EPOCH + 1:
        return

    t = state.types
    previous_epoch = get_previous_epoch(state)
    current_epoch = get_current_epoch(state)
    old_previous_justified_checkpoint = state.previous_justified_checkpoint
    old_current_justified_checkpoint = state.current_justified_checkpoint

    with participation_scope(state) as part:
        # get_attesting_balance(state, get_matching_target_attestations(state, epoch)), read once
        previous_target_balance = part.total_of(part.for_epoch(previous_epoch).unslashed_target.nonzero()[0])
        current_target_balance = part.total_of(part.for_epoch(current_epoch).unslashed_target.nonzero()[0])
        total_active_balance = part.total_active_balance  # get_total_active_balance(state)

    # Process justifications
    state.previous_justified_checkpoint = state.current_justified_checkpoint
    state.justification_bits[1:] = state.justification_bits[:-1]
    state.justification_bits[0] = 0b0
    if previous_target_balance * 3 >= total_active_balance * 2:  # Previous epoch
        state.current_justified_checkpoint = t.Checkpoint(epoch=previous_epoch,
                                                          root=get_block_root(state, previous_epoch))
        state.justification_bits[1] = 0b1
    if current_target_balance * 3 >= total_active_balance * 2:  # Current epoch
        state.current_justified_checkpoint = t.Checkpoint(epoch=current_epoch,
                                                          root=get_block_root(state, current_epoch))
        state.justification_bits[0] = 0b1

    # Process finalizations
    bits = state.justification_bits
    # The 2nd/3rd/4th most recent epochs are justified, the 2nd using the 4th as source
    if all(bits[1:4]) and old_previous_justified_checkpoint.epoch + 3 == current_epoch:
        state.finalized_checkpoint = old_previous_justified_checkpoint
    # The 2nd/3rd most recent epochs are justified, the 2nd using the 3rd as source
    if all(bits[1:3]) and old_previous_justified_checkpoint.epoch + 2 == current_epoch:
        state.finalized_checkpoint = old_previous_justified_checkpoint
    # The 1st/2nd/3rd most recent epochs are justified, the 1st using the 3rd as source
    if all(bits[0:3]) and old_current_justified_checkpoint.epoch + 2 == current_epoch:
        state.finalized_checkpoint = old_current_justified_checkpoint
    # The 1st/2nd most recent epochs are justified, the 1st using the 2nd as source
    if all(bits[0:2]) and old_current_justified_checkpoint.epoch + 1 == current_epoch:
        state.finalized_checkpoint = old_current_justified_checkpoint
