"""Judging a voluntary exit that a user submits (the API's pool endpoint).

The conditions are process_voluntary_exit's (0_beacon-chain.md v0.8.2, "Voluntary exits"); each
refusal says which one failed with the numbers behind it, so that the user of
`pybeacon validator exit` learns what to change (wait until epoch N, another index, ...). The
signature is then checked by process_voluntary_exit itself on a copy of the state.
"""
from __future__ import annotations

from typing import Any, Optional

from beacon.state import StateTransitionError, get_current_epoch, process_voluntary_exit
from beacon.state.slots import process_slots

# How far past the head block an exit is judged: the wall clock's epoch may be ahead of the
# head when slots are empty; beyond this the node is too far behind to judge anything.
MAX_EMPTY_SLOTS = 64


def exit_state(chain: Any, wall_slot: Optional[int]) -> Any:
    """A copy of the head state, advanced through empty slots to the wall-clock slot (bounded),
    so that an exit for the current epoch is judged in the current epoch."""
    state = chain.head_state()
    if wall_slot is not None and state.slot < wall_slot <= state.slot + MAX_EMPTY_SLOTS:
        process_slots(state, wall_slot)
    return state


def voluntary_exit_problem(state: Any, exit: Any) -> Optional[str]:  # noqa: A002 - the spec's name
    """None if `exit` is valid on `state` (which is left as it was), else the specific reason."""
    cfg = state.config
    index, epoch = int(exit.validator_index), int(exit.epoch)
    n = len(state.validators)
    if index >= n:
        return f"unknown validator {index}: the state has {n} validators (0..{n - 1})"
    v = state.validators[index]
    current = get_current_epoch(state)
    far = cfg.FAR_FUTURE_EPOCH
    if int(v.exit_epoch) != far:
        if current >= int(v.exit_epoch):
            return f"validator {index} has already exited (exit epoch {int(v.exit_epoch)}, now epoch {current})"
        return f"validator {index} is already exiting (exit epoch {int(v.exit_epoch)}, now epoch {current})"
    if not int(v.activation_epoch) <= current:
        when = "not yet scheduled" if int(v.activation_epoch) == far else f"epoch {int(v.activation_epoch)}"
        return f"validator {index} is not active (activation {when}, now epoch {current})"
    if current < epoch:
        return f"exit epoch {epoch} is in the future (now epoch {current}); sign it for epoch {current} or wait"
    earliest = int(v.activation_epoch) + int(cfg.PERSISTENT_COMMITTEE_PERIOD)
    if current < earliest:
        return (f"too early: validator {index} may exit from epoch {earliest} on (activation epoch "
                f"{int(v.activation_epoch)} + PERSISTENT_COMMITTEE_PERIOD {int(cfg.PERSISTENT_COMMITTEE_PERIOD)}), "
                f"now epoch {current}")
    scratch = state.copy()
    try:
        process_voluntary_exit(scratch, exit)  # outside a block: the signature is checked here
    except StateTransitionError as e:
        reason = str(e).split(": ", 1)[-1]
        if "signature" in reason:
            return (f"invalid signature: not validator {index}'s key signing this exit with the "
                    f"DOMAIN_VOLUNTARY_EXIT domain of epoch {epoch}")
        return reason
    return None
