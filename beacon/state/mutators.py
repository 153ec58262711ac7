"""Beacon state mutators (0_beacon-chain.md v0.8.2, "Helper functions / Beacon state mutators")."""
from __future__ import annotations

from typing import Any

from beacon.state.accessors import get_beacon_proposer_index, get_current_epoch, get_validator_churn_limit
from beacon.state.misc import compute_activation_exit_epoch


# spec v0.8.2: Beacon state mutators / increase_balance
def increase_balance(state: Any, index: int, delta: int) -> None:
    """Increase the validator balance at index ``index`` by ``delta``."""
    state.balances[index] += delta


# spec v0.8.2: Beacon state mutators / decrease_balance
def decrease_balance(state: Any, index: int, delta: int) -> None:
    """Decrease the validator balance at index ``index`` by ``delta``, with underflow protection."""
    balance = state.balances[index]
    state.balances[index] = 0 if delta > balance else balance - delta


# spec v0.8.2: Beacon state mutators / initiate_validator_exit
def initiate_validator_exit(state: Any, index: int) -> None:
    """Initiate the exit of the validator with index ``index``."""
    cfg = state.config
    far_future = cfg.FAR_FUTURE_EPOCH
    # Return if validator already initiated exit
    validator = state.validators[index]
    if validator.exit_epoch != far_future:
        return

    # Compute exit queue epoch
    exit_epochs = [v.exit_epoch for v in state.validators if v.exit_epoch != far_future]
    exit_queue_epoch = max(exit_epochs + [compute_activation_exit_epoch(get_current_epoch(state), cfg=cfg)])
    exit_queue_churn = exit_epochs.count(exit_queue_epoch)  # == len([v for v in validators if v.exit_epoch == ...])
    if exit_queue_churn >= get_validator_churn_limit(state):
        exit_queue_epoch += 1

    # Set validator exit epoch and withdrawable epoch
    validator.exit_epoch = exit_queue_epoch
    validator.withdrawable_epoch = validator.exit_epoch + cfg.MIN_VALIDATOR_WITHDRAWABILITY_DELAY


# spec v0.8.2: Beacon state mutators / slash_validator
def slash_validator(state: Any, slashed_index: int, whistleblower_index: int | None = None) -> None:
    """Slash the validator with index ``slashed_index``."""
    cfg = state.config
    epoch = get_current_epoch(state)
    initiate_validator_exit(state, slashed_index)
    validator = state.validators[slashed_index]
    validator.slashed = True
    validator.withdrawable_epoch = max(validator.withdrawable_epoch, epoch + cfg.EPOCHS_PER_SLASHINGS_VECTOR)
    state.slashings[epoch % cfg.EPOCHS_PER_SLASHINGS_VECTOR] += validator.effective_balance
    decrease_balance(state, slashed_index, validator.effective_balance // cfg.MIN_SLASHING_PENALTY_QUOTIENT)

    # Apply proposer and whistleblower rewards
    proposer_index = get_beacon_proposer_index(state)
    if whistleblower_index is None:
        whistleblower_index = proposer_index
    whistleblower_reward = validator.effective_balance // cfg.WHISTLEBLOWER_REWARD_QUOTIENT
    proposer_reward = whistleblower_reward // cfg.PROPOSER_REWARD_QUOTIENT
    increase_balance(state, proposer_index, proposer_reward)
    increase_balance(state, whistleblower_index, whistleblower_reward - proposer_reward)
