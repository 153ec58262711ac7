"""Slashings (0_beacon-chain.md v0.8.2, "Epoch processing / Slashings")."""
from __future__ import annotations

from typing import Any

from beacon.state.accessors import get_current_epoch, get_total_active_balance
from beacon.state.mutators import decrease_balance


# spec v0.8.2: Epoch processing / Slashings / process_slashings
def process_slashings(state: Any) -> None:
    cfg = state.config
    epoch = get_current_epoch(state)
    total_balance = get_total_active_balance(state)
    # The spec sums state.slashings per slashed validator; the loop never changes it.
    adjusted_total_slashing_balance = min(sum(state.slashings) * 3, total_balance)
    for index, validator in enumerate(state.validators):
        if validator.slashed and epoch + cfg.EPOCHS_PER_SLASHINGS_VECTOR // 2 == validator.withdrawable_epoch:
            increment = cfg.EFFECTIVE_BALANCE_INCREMENT  # Factored out from penalty numerator to avoid uint64 overflow
            penalty_numerator = validator.effective_balance // increment * adjusted_total_slashing_balance
            penalty = penalty_numerator // total_balance * increment
            decrease_balance(state, index, penalty)
