"""The registry columns (beacon.state.columns) always equal the validators they are keyed by.

Epoch steps patch the cached entry after their own writes instead of reading the registry
again; these tests read the registry again and compare, after epochs whose steps write many
validators (eligibility, activations, ejections, effective balance changes, slashings)."""
from __future__ import annotations

from typing import Any

import numpy as np

from beacon.config import load_config
from beacon.state import cache, columns
from beacon.state import epoch as fast
from beacon.state.accessors import get_active_validator_indices
from beacon.state.epoch import naive
from beacon.state.epoch.synthetic import build_epoch_state

MINIMAL = load_config("minimal")


def _fresh(state: Any) -> dict[str, list[Any]]:
    return {name: [getattr(v, name) for v in state.validators] for name in columns.FIELDS}


def _assert_columns_true(state: Any) -> None:
    found = columns.entry(state)
    fresh = _fresh(state)
    for name in columns.FIELDS:
        assert found.cols[name].tolist() == fresh[name], name
        assert not found.cols[name].flags.writeable


def _churned_state(seed: int) -> Any:
    """A partial-participation state where registry updates, slashings and effective balances
    all write validators: ejectable, pending and newly eligible validators, balances that move
    effective balances, slashed validators at their slashing epoch. Few enough (under half
    of the registry) that the steps patch the columns rather than leave them to a rebuild."""
    state = build_epoch_state(MINIMAL, 200, full=False, seed=seed)
    cfg = state.config
    epoch = state.slot // cfg.SLOTS_PER_EPOCH
    for i, v in enumerate(state.validators):
        state.balances[i] = v.effective_balance + cfg.EFFECTIVE_BALANCE_INCREMENT // 4  # no hysteresis move
        if i % 29 == 0 and v.exit_epoch == cfg.FAR_FUTURE_EPOCH:
            v.effective_balance = cfg.EJECTION_BALANCE  # ejected by registry updates
        elif i % 31 == 0:  # eligible for activation, pending
            v.activation_eligibility_epoch = cfg.FAR_FUTURE_EPOCH
            v.activation_epoch = cfg.FAR_FUTURE_EPOCH
            v.effective_balance = cfg.MAX_EFFECTIVE_BALANCE
        elif i % 37 == 0:  # slashed, penalised by process_slashings this epoch
            v.slashed = True
            v.withdrawable_epoch = epoch + cfg.EPOCHS_PER_SLASHINGS_VECTOR // 2
        elif i % 17 == 0:  # a balance far from the effective balance: hysteresis moves it
            state.balances[i] = v.effective_balance // 2
    state.slashings[0] = 3 * cfg.MAX_EFFECTIVE_BALANCE
    return state


def test_patched_columns_match_the_registry() -> None:
    for seed in (1, 2, 3):
        state = _churned_state(seed)
        reference = state.copy()
        _assert_columns_true(state)  # builds the entry the steps will patch
        for step in ("process_justification_and_finalization", "process_crosslinks",
                     "process_rewards_and_penalties", "process_registry_updates", "process_slashings",
                     "process_final_updates"):
            before = state.validators.hash_tree_root()
            getattr(fast, step)(state)
            getattr(naive, step)(reference)
            assert state.hash_tree_root() == reference.hash_tree_root(), step
            _assert_columns_true(state)
            if step in ("process_registry_updates", "process_final_updates"):
                assert state.validators.hash_tree_root() != before, f"{step} wrote no validator"


def test_entries_are_keyed_by_content() -> None:
    # Two copies whose registries diverge share the cache object: each must see its own columns.
    a = build_epoch_state(MINIMAL, 96, full=True)
    b = a.copy()
    b._cache = a._cache
    _assert_columns_true(a)
    b.validators[5].exit_epoch = 6
    b.validators[9].slashed = True
    _assert_columns_true(b)
    _assert_columns_true(a)
    assert 5 in get_active_validator_indices(a, 7) and 5 not in get_active_validator_indices(b, 7)


def test_equal_active_sets_share_one_tuple_and_digest() -> None:
    state = build_epoch_state(MINIMAL, 96, full=True)
    first = columns.active_indices(state, 5)
    again = columns.active_indices(state, 9)  # nobody activates or exits between: the same set
    assert first[0] is again[0] and first[1] == again[1]
    state.validators[3].exit_epoch = 7
    after = columns.active_indices(state, 9)
    assert 3 not in after[0] and after[0] == tuple(i for i in range(96) if i != 3)
    assert after[1] != first[1]


def test_spec_mode_builds_private_columns() -> None:
    state = build_epoch_state(MINIMAL, 64, full=True)
    state._cache = None
    cache.set_spec_mode(True)
    try:
        (eb,) = columns.columns(state, "effective_balance")
        assert eb.tolist() == [v.effective_balance for v in state.validators]
        assert state._cache is None  # nothing cached with the caches off
        assert np.array_equal(columns.active_indices(state, 4)[0], range(64))
    finally:
        cache.set_spec_mode(False)
