"""Registry updates (0_beacon-chain.md v0.8.2, "Epoch processing / Registry updates")."""
from __future__ import annotations

from typing import Any

import numpy as np

from beacon.state.accessors import get_current_epoch, get_validator_churn_limit
from beacon.state.columns import columns as registry_columns
from beacon.state.columns import entry as registry_columns_entry
from beacon.state.columns import patch as registry_columns_patch
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

    def __init__(self, state: Any, churn_limit: int) -> None:
        self.state = state
        self.scanned = False
        self.max_exit: int | None = None
        self.count_at_max = 0
        self.churn_limit = churn_limit  # get_validator_churn_limit(state), the same at every call
        self.floor = 0
        self.exit_epochs: Any = None  # the exit epochs before any call, as a uint64 array
        self.changed: set[int] = set()  # the validators whose exit this queue initiated

    def _scan(self) -> None:
        state, cfg = self.state, self.state.config
        column = self.exit_epochs
        if column is None:
            column = np.array([v.exit_epoch for v in state.validators], dtype=np.uint64)
        exit_epochs = column[column != np.uint64(cfg.FAR_FUTURE_EPOCH)]
        if len(exit_epochs):
            self.max_exit = int(exit_epochs.max())
            self.count_at_max = int((exit_epochs == np.uint64(self.max_exit)).sum())
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
        self.changed.add(index)
        if self.max_exit is None or exit_queue_epoch > self.max_exit:
            self.max_exit, self.count_at_max = exit_queue_epoch, 1
        elif exit_queue_epoch == self.max_exit:
            self.count_at_max += 1


# spec v0.8.2: Epoch processing / Registry updates / process_registry_updates
def process_registry_updates(state: Any) -> None:
    # The spec's loops as masks over the registry's columns (beacon.state.columns); the writes
    # go to the few validators selected, in index order, and the columns are then patched.
    cfg = state.config
    current_epoch = get_current_epoch(state)
    # The churn limit reads the current epoch's active set, which none of the writes below
    # change (exits and activations land in later epochs): read once, before them.
    churn_limit = get_validator_churn_limit(state)
    exits = _ExitQueue(state, churn_limit)
    far_future_epoch = cfg.FAR_FUTURE_EPOCH
    start = registry_columns_entry(state)
    eligibility, effective, activation, exit_ = registry_columns(
        state, "activation_eligibility_epoch", "effective_balance", "activation_epoch", "exit_epoch")
    exits.exit_epochs = exit_
    # Process activation eligibility and ejections. Per validator the spec sets the eligibility
    # epoch and then maybe initiates an exit; the two read and write disjoint fields (an exit
    # writes exit/withdrawable epochs, read by no later eligibility test), so all eligibility
    # writes can go first, and the ejections follow in index order as in the spec's loop.
    becomes_eligible = np.flatnonzero((eligibility == far_future_epoch) & (effective == cfg.MAX_EFFECTIVE_BALANCE))
    validators = state.validators
    for index in becomes_eligible.tolist():
        validators[index].activation_eligibility_epoch = current_epoch
    # is_active_validator(validator, current_epoch) and effective_balance <= EJECTION_BALANCE
    ejected = np.flatnonzero((activation <= current_epoch) & (exit_ > current_epoch)
                             & (effective <= cfg.EJECTION_BALANCE))
    for index in ejected.tolist():
        exits.initiate_validator_exit(index)

    # Queue validators eligible for activation and not dequeued for activation prior to finalized epoch
    dequeue_floor = compute_activation_exit_epoch(state.finalized_checkpoint.epoch, cfg=cfg)
    eligibility_now = eligibility.copy()  # the eligibility epochs after the writes above
    eligibility_now[becomes_eligible] = current_epoch
    # activation_epoch is not written above (exits write other fields): the column still holds
    queued = np.flatnonzero((activation >= dequeue_floor) & (eligibility_now != far_future_epoch))
    # sorted(..., key=activation_eligibility_epoch) is stable: a stable argsort of the same keys
    activation_queue = queued[np.argsort(eligibility_now[queued], kind="stable")]
    # Dequeued validators for activation up to churn limit (without resetting activation epoch)
    activated = []
    for index in activation_queue[:churn_limit].tolist():
        validator = validators[index]
        if validator.activation_epoch == cfg.FAR_FUTURE_EPOCH:
            validator.activation_epoch = compute_activation_exit_epoch(current_epoch, cfg=cfg)
            activated.append(index)
    changed = set(becomes_eligible.tolist()) | exits.changed | set(activated)
    if changed:
        registry_columns_patch(state, start, changed)
