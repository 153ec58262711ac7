"""Epoch processing: the fast path (beacon.state.epoch) against the spec's literal form (naive.py).

The v0.8.3 vectors pin each step on a handful of states and have no rewards_and_penalties cases;
here both implementations run on synthetic states built to hit what the fast path reorganises:
overlapping and partial aggregates, wrong targets and heads, competing crosslinks (and the
crosslinks written by process_crosslinks before get_crosslink_deltas reads them), slashed,
exited, pending and ejectable validators, inactivity leaks, slashings, and values beyond int64.
"""
from __future__ import annotations

import pytest

from beacon.config import load_config
from beacon.state import slots
from beacon.state import epoch as fast
from beacon.state.accessors import get_committee_count, get_current_epoch, get_previous_epoch, get_start_shard
from beacon.state.epoch import naive
from beacon.state.epoch.participation import participation_scope
from beacon.state.epoch.synthetic import build_epoch_state

MINIMAL = load_config("minimal")
MAINNET = load_config("mainnet")

STEPS = [
    "process_justification_and_finalization", "process_crosslinks", "process_rewards_and_penalties",
    "process_registry_updates", "process_slashings", "process_final_updates",
]


def _differing(a, b) -> list[str]:
    return [name for name, _ in type(a).fields if getattr(a, name) != getattr(b, name)]


def _assert_same(a, b) -> None:
    assert _differing(a, b) == []
    assert a.hash_tree_root() == b.hash_tree_root()


def _shards(state, epoch):
    start = get_start_shard(state, epoch)
    return [(start + i) % state.config.SHARD_COUNT for i in range(get_committee_count(state, epoch))]


@pytest.mark.parametrize("seed", range(12))
def test_process_epoch_matches_spec(seed: int) -> None:
    state = build_epoch_state(MINIMAL, 96 + 16 * seed, full=(seed == 0), seed=seed)
    a, b = state.copy(), state.copy()
    fast.process_epoch(a)
    naive.process_epoch(b)
    _assert_same(a, b)
    assert a.balances != state.balances  # the epoch did something


@pytest.mark.parametrize("seed", range(1, 7))
def test_each_step_matches_spec(seed: int) -> None:
    # Step by step, each implementation on its own copy: also checks every step called on its own
    # (outside process_epoch's shared participation) builds a correct participation of its own.
    a = build_epoch_state(MINIMAL, 160, full=False, seed=seed)
    b = a.copy()
    for step in STEPS:
        getattr(fast, step)(a)
        getattr(naive, step)(b)
        assert _differing(a, b) == [], step


@pytest.mark.parametrize("seed", range(8))
def test_spec_named_helpers_match_spec(seed: int) -> None:
    state = build_epoch_state(MINIMAL, 128, full=(seed == 0), seed=seed)
    assert fast.get_attestation_deltas(state) == naive.get_attestation_deltas(state)
    assert fast.get_crosslink_deltas(state) == naive.get_crosslink_deltas(state)
    for epoch in (get_previous_epoch(state), get_current_epoch(state)):
        for shard in range(MINIMAL.SHARD_COUNT):
            assert (fast.get_winning_crosslink_and_attesting_indices(state, epoch, shard)
                    == naive.get_winning_crosslink_and_attesting_indices(state, epoch, shard))


def test_deltas_after_crosslinks_changed() -> None:
    # get_crosslink_deltas runs after process_crosslinks rewrote current_crosslinks (in minimal
    # every shard has a committee in both epochs): the winner must be chosen against the new ones.
    changed = 0
    for seed in range(1, 6):
        a = build_epoch_state(MINIMAL, 128, full=False, seed=seed)
        b = a.copy()
        with participation_scope(a):  # one participation across both, as inside process_epoch
            fast.process_crosslinks(a)
            fast_deltas = fast.get_crosslink_deltas(a)
        naive.process_crosslinks(b)
        assert a.current_crosslinks == b.current_crosslinks
        assert fast_deltas == naive.get_crosslink_deltas(b)
        changed += a.current_crosslinks != a.previous_crosslinks
    assert changed  # the case the test is about did occur


@pytest.mark.parametrize("epoch", [0, 1, 2])
@pytest.mark.parametrize("full", [True, False])
def test_first_epochs(epoch: int, full: bool) -> None:
    # Epoch 0: previous == current (both read current_epoch_attestations), no justification and
    # no rewards; epoch 1: rewards but no justification.
    state = build_epoch_state(MINIMAL, 128, epoch=epoch, full=full, seed=epoch + 1)
    a, b = state.copy(), state.copy()
    fast.process_epoch(a)
    naive.process_epoch(b)
    _assert_same(a, b)


def test_full_participation_rewards_everyone() -> None:
    state = build_epoch_state(MINIMAL, 64, full=True)
    before = list(state.balances)
    fast.process_epoch(state)
    assert all(after > was for after, was in zip(state.balances, before))
    assert state.current_justified_checkpoint.epoch == 4
    assert state.finalized_checkpoint.epoch == 3


def test_mass_ejections_follow_the_exit_queue() -> None:
    # Many ejections in one epoch: the incremental exit queue must match initiate_validator_exit
    # call for call, including the churn limit rolling exits into later epochs.
    state = build_epoch_state(MINIMAL, 200, full=False, seed=3)
    for i, v in enumerate(state.validators):
        if i % 3 == 0 and v.exit_epoch == MINIMAL.FAR_FUTURE_EPOCH:
            v.effective_balance = MINIMAL.EJECTION_BALANCE
    a, b = state.copy(), state.copy()
    fast.process_registry_updates(a)
    naive.process_registry_updates(b)
    _assert_same(a, b)
    assert len({v.exit_epoch for v in a.validators if v.exit_epoch != MINIMAL.FAR_FUTURE_EPOCH}) > 3


def test_exact_beyond_int64() -> None:
    # Effective balances far above MAX_EFFECTIVE_BALANCE and a very long leak: the sums leave
    # uint64 and the inactivity entries leave int64, so the exact Python-int paths must be taken.
    state = build_epoch_state(MINIMAL, 96, epoch=2**22, full=False, seed=5)
    for i, v in enumerate(state.validators):
        if i % 5 == 0:
            v.effective_balance = 2**62 + i
    state.finalized_checkpoint = state.types.Checkpoint(epoch=0, root=b"\x00" * 32)
    a, b = state.copy(), state.copy()
    assert fast.get_attestation_deltas(a) == naive.get_attestation_deltas(b)
    assert fast.get_crosslink_deltas(a) == naive.get_crosslink_deltas(b)
    fast.process_epoch(a)
    naive.process_epoch(b)
    _assert_same(a, b)


def test_several_epochs_through_process_slots() -> None:
    state = build_epoch_state(MINIMAL, 128, full=False, seed=9)
    target = state.slot + 3 * MINIMAL.SLOTS_PER_EPOCH
    a, b = state.copy(), state.copy()
    slots.process_slots(a, target)  # calls beacon.state.epoch.process_epoch
    while b.slot < target:  # the same loop with the spec's epoch processing
        slots.process_slot(b)
        if (b.slot + 1) % MINIMAL.SLOTS_PER_EPOCH == 0:
            naive.process_epoch(b)
        b.slot += 1
    _assert_same(a, b)


def test_participation_is_per_state() -> None:
    a = build_epoch_state(MINIMAL, 128, full=False, seed=1)
    b = build_epoch_state(MINIMAL, 128, full=False, seed=2)
    with participation_scope(a):
        assert fast.get_attestation_deltas(b) == naive.get_attestation_deltas(b)


@pytest.mark.parametrize("full", [True, False])
def test_mainnet_preset(full: bool) -> None:
    state = build_epoch_state(MAINNET, 1024, full=full, seed=7)
    assert len(_shards(state, get_previous_epoch(state))) == MAINNET.SLOTS_PER_EPOCH
    a, b = state.copy(), state.copy()
    fast.process_epoch(a)
    naive.process_epoch(b)
    _assert_same(a, b)
