"""<preset>/epoch_processing/<step>/<suite>/<case>: one epoch sub-transition on pre.ssz.

Format: specs/test_formats/epoch_processing/README.md (v0.8.2): the pre-state is already advanced
to just before the step, the handler applies only `process_<step>` and compares with post.ssz.
A case without post.ssz expects the step to fail (none in v0.8.3, kept for the format).
"""
from __future__ import annotations

from typing import Any, Callable

from beacon.ssz import decode
from beacon.state import epoch
from beacon.types import get_types
from spectests.registry import Case, register

STEPS: dict[str, Callable[[Any], None]] = {
    "justification_and_finalization": epoch.process_justification_and_finalization,
    "crosslinks": epoch.process_crosslinks,
    "rewards_and_penalties": epoch.process_rewards_and_penalties,  # no vectors in v0.8.3
    "registry_updates": epoch.process_registry_updates,
    "slashings": epoch.process_slashings,
    "final_updates": epoch.process_final_updates,
}


def _differing_fields(got: Any, want: Any) -> list[str]:
    return [name for name, _ in type(want).fields if getattr(got, name) != getattr(want, name)]


def _run(step: Callable[[Any], None], case: Case) -> None:
    t = get_types(case.config)
    state = decode(t.BeaconState, case.bytes("pre.ssz"))
    if not case.has("post.ssz"):
        try:
            step(state)
        except Exception:
            return
        raise AssertionError("the step succeeded but the case has no post-state (expected to fail)")
    step(state)
    post = decode(t.BeaconState, case.bytes("post.ssz"))
    if state.hash_tree_root() != post.hash_tree_root():
        raise AssertionError(f"post-state differs in {_differing_fields(state, post)}")
    assert state.serialize() == case.bytes("post.ssz"), "post-state root matches but encoding differs"


def _register(name: str, step: Callable[[Any], None]) -> None:
    register("epoch_processing", name)(lambda case: _run(step, case))


for _name, _step in STEPS.items():
    _register(_name, _step)
