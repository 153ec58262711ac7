"""Registry updates (0_beacon-chain.md v0.8.2, "Epoch processing / Registry updates")."""
from __future__ import annotations

from typing import Any

from beacon.state.accessors import get_current_epoch, get_validator_churn_limit
from beacon.state.misc import compute_activation_exit_epoch


class _ExitQueue:
    """initiate_validator_exit for the ejections of one process_registry_updates, O(1) per call.

    The spec's initiate_validator_exit rescans every validator on each call, which is quadratic
    when many validators are ejected in one epoch. Between the calls made here only exit epochs
    change, and only through this queue, so the largest exit epoch in use and the number of
    validators exiting at it can be carried forward; the churn limit reads the current epoch's
    active set, which exits (all in later epochs) do not change. Same effects, call for call,
    as the spec function.
    """

    def __init__(self, state: Any) -> None:
        self.state = state
        self.scanned = False
        self.max_exit: int | None = None
        self.count_at_max = 0
        self.churn_limit = 0
        self.floor = 0

    def _scan(self) -> None:
        state, cfg = self.state, self.state.config
        exit_epochs = [v.exit_epoch for v in state.validators if v.exit_epoch != cfg.FAR_FUTURE_EPOCH]
        if exit_epochs:
            self.max_exit = max(exit_epochs)
            self.count_at_max = exit_epochs.count(self.max_exit)
        self.churn_limit = get_validator_churn_limit(state)
        self.floor = compute_activation_exit_epoch(get_current_epoch(state), cfg=cfg)
        self.scanned = True

    # spec v0.8.2: Beacon state mutators / initiate_validator_exit (incremental form, see above)
    def initiate_validator_exit(self, index: int) -> None:
        cfg = self.state.config
        # Return if validator already initiated exit
        validator = self.state.validators[index]
        if validator.exit_epoch != cfg.FAR_FUTURE_EPOCH:
            return
        if not self.scanned:
            self._scan()

        # Compute exit queue epoch
        exit_queue_epoch = self.floor if self.max_exit is None else max(self.max_exit, self.floor)
        exit_queue_churn = self.count_at_max if exit_queue_epoch == self.max_exit else 0
        if exit_queue_churn >= self.churn_limit:
            exit_queue_epoch += 1

        # Set validator exit epoch and withdrawable epoch
        validator.exit_epoch = exit_queue_epoch
        validator.withdrawable_epoch = exit_queue_epoch + cfg.MIN_VALIDATOR_WITHDRAWABILITY_DELAY
        if self.max_exit is None or exit_queue_epoch > self.max_exit:
            self.max_exit, self.count_at_max = exit_queue_epoch, 1
        elif exit_queue_epoch == self.max_exit:
            self.count_at_max += 1


# spec v0.8.2: Epoch processing / Registry updates / process_registry_updates
def process_registry_updates(state: Any) -> None:
    cfg = state.config
    current_epoch = get_current_epoch(state)
    exits = _ExitQueue(state)
    # Constants hoisted out of the per-validator loop (it runs over the whole registry).
    far_future_epoch = cfg.FAR_FUTURE_EPOCH
    max_effective_balance = cfg.MAX_EFFECTIVE_BALANCE
    ejection_balance = cfg.EJECTION_BALANCE
    # Process activation eligibility and ejections
    for index, validator in enumerate(state.validators):
        effective_balance = validator.effective_balance
        if validator.activation_eligibility_epoch == far_future_epoch and effective_balance == max_effective_balance:
            validator.activation_eligibility_epoch = current_epoch

        # is_active_validator(validator, current_epoch), inlined
        if (effective_balance <= ejection_balance
                and validator.activation_epoch <= current_epoch < validator.exit_epoch):
            exits.initiate_validator_exit(index)

    # Queue validators eligible for activation and not dequeued for activation prior to finalized epoch
    dequeue_floor = compute_activation_exit_epoch(state.finalized_checkpoint.epoch, cfg=cfg)
    activation_queue = sorted([
        index for index, validator in enumerate(state.validators)
        if validator.activation_epoch >= dequeue_floor
        and validator.activation_eligibility_epoch != far_future_epoch
    ], key=lambda index: state.validators[index].activation_eligibility_epoch)
    # Dequeued validators for activation up to churn limit (without resetting activation epoch)
    for index in activation_queue[:get_validator_churn_limit(state)]:
        validator = state.validators[index]
        if validator.activation_epoch == cfg.FAR_FUTURE_EPOCH:
            validator.activation_epoch = compute_activation_exit_epoch(current_epoch, cfg=cfg)
