"""sanity/* vectors (specs/test_formats/sanity): empty slots, and blocks through state_transition."""
from __future__ import annotations

from typing import Any

from beacon.state.slots import process_slots, state_transition
from spectests.handlers._state_cases import load, run_transition, types_of
from spectests.registry import Case, register


@register("sanity", "slots")
def sanity_slots(case: Case) -> None:
    t = types_of(case)
    pre = load(case, "pre", t.BeaconState)
    slots = case.yaml("slots.yaml")
    assert isinstance(slots, int) and slots > 0, f"slots.yaml must be a positive int, got {slots!r}"
    run_transition(case, pre, lambda state: process_slots(state, state.slot + slots))


@register("sanity", "blocks")
def sanity_blocks(case: Case) -> None:
    t = types_of(case)
    pre = load(case, "pre", t.BeaconState)
    count = case.meta["blocks_count"]
    blocks = [load(case, f"blocks_{i}", t.BeaconBlock) for i in range(count)]

    def apply(state: Any) -> Any:
        for block in blocks:
            # The vectors' blocks carry real state roots: check them as production would.
            state_transition(state, block, validate_state_root=True)
        return state

    run_transition(case, pre, apply)
