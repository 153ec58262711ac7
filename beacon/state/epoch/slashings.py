"""Slashings (0_beacon-chain.md v0.8.2, "Epoch processing / Slashings")."""
from __future__ import annotations

from typing import Any

import numpy as np

from beacon.state.accessors import get_current_epoch, get_total_active_balance
from beacon.state.columns import columns as registry_columns
from beacon.state.mutators import decrease_balance


# spec v0.8.2: Epoch processing / Slashings / process_slashings
def process_slashings(state: Any) -> None:
    cfg = state.config
    epoch = get_current_epoch(state)
    total_balance = get_total_active_balance(state)
    # The spec sums state.slashings per slashed validator; the loop never changes it.
    adjusted_total_slashing_balance = min(sum(state.slashings) * 3, total_balance)
    # The spec's test over every validator, as a mask over the registry's columns; the penalty
    # of each selected validator is then computed with Python ints, in index order.
    slashed, withdrawable, effective = registry_columns(state, "slashed", "withdrawable_epoch", "effective_balance")
    target = epoch + cfg.EPOCHS_PER_SLASHINGS_VECTOR // 2
    if target >= 2**64:  # no uint64 withdrawable epoch can equal it
        return
    for index in np.flatnonzero(slashed & (withdrawable == np.uint64(target))).tolist():
        increment = cfg.EFFECTIVE_BALANCE_INCREMENT  # Factored out from penalty numerator to avoid uint64 overflow
        penalty_numerator = int(effective[index]) // increment * adjusted_total_slashing_balance
        penalty = penalty_numerator // total_balance * increment
        decrease_balance(state, index, penalty)
