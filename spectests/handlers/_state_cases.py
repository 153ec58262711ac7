"""Shared by the state-transition handlers: loading SSZ inputs, bls_setting, comparing states."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from beacon.crypto import bls
from beacon.state.errors import StateTransitionError
from beacon.types import get_types
from spectests.registry import Case


def types_of(case: Case) -> Any:
    return get_types(case.config)


def load(case: Case, name: str, typ: Any) -> Any:
    """The .ssz form of an input (preferred over the .yaml one)."""
    return typ.deserialize(case.bytes(f"{name}.ssz"))


@contextmanager
def bls_for(case: Case) -> Iterator[None]:
    """bls_setting 1: verification on; 2: off; 0/absent: either works, we keep it on."""
    setting = case.meta.get("bls_setting", 0)
    if setting not in (0, 1, 2):
        raise AssertionError(f"unknown bls_setting {setting!r}")
    with bls.enabled(setting != 2):
        yield


def assert_states_equal(got: Any, want: Any) -> None:
    if got.hash_tree_root() == want.hash_tree_root():
        return
    diffs = [name for name, _ in type(want).fields if getattr(got, name) != getattr(want, name)]
    detail = []
    for name in diffs[:4]:
        g, w = getattr(got, name), getattr(want, name)
        if hasattr(w, "__len__") and hasattr(g, "__len__") and not isinstance(w, (bytes, str)):
            bad = [i for i, (a, b) in enumerate(zip(g, w)) if a != b][:3]
            detail.append(f"{name}: len {len(g)} vs {len(w)}, first differing indices {bad}"
                          + (f": got {g[bad[0]]!r} want {w[bad[0]]!r}" if bad else ""))
        else:
            detail.append(f"{name}: got {g!r} want {w!r}")
    raise AssertionError(f"post-state mismatch in {diffs}\n  " + "\n  ".join(detail))


def run_transition(case: Case, pre: Any, apply: Callable[[Any], Any], post_name: str = "post") -> None:
    """Apply to pre; compare with <post_name>.ssz, or require a rejection when there is none."""
    t = types_of(case)
    with bls_for(case):
        if case.has(f"{post_name}.ssz"):
            result = apply(pre)
            assert_states_equal(result if result is not None else pre, load(case, post_name, t.BeaconState))
            return
        try:
            apply(pre)
        except StateTransitionError:
            return  # rejected, as the vector expects
        raise AssertionError("expected the input to be rejected as invalid, but it was accepted")
