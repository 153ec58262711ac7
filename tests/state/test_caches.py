"""The epoch caches are invisible: the same results with them cleared, or with SPEC_MODE (no
caches at all, committees from the spec's per-index compute_shuffled_index)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from beacon.crypto import bls
from beacon.state import (
    cache, clear_caches, get_active_validator_indices, get_beacon_proposer_index, get_compact_committees_root,
    get_crosslink_committee, get_current_epoch, get_total_active_balance, process_deposit, state_transition,
)
from genesis.deposits import make_deposit_data
from genesis.keys import interop_keypairs
from tests.state.builders import attestation_window, make_block


@contextmanager
def spec_mode() -> Iterator[None]:
    cache.set_spec_mode(True)
    try:
        yield
    finally:
        cache.set_spec_mode(False)


def _views(state: Any) -> tuple:
    """Everything the caches serve, for the previous, current and next epoch."""
    epoch = get_current_epoch(state)
    cfg = state.config
    out = [get_beacon_proposer_index(state), get_total_active_balance(state)]
    for e in {max(epoch - 1, 0), epoch, epoch + 1}:
        out.append(tuple(get_active_validator_indices(state, e)))
        out.append(tuple(tuple(get_crosslink_committee(state, e, s)) for s in range(cfg.SHARD_COUNT)))
        out.append(get_compact_committees_root(state, e))
    return tuple(out)


def test_chain_same_with_and_without_caches(minimal_genesis: Any, privkeys: list[int]) -> None:
    cached = minimal_genesis
    uncached = minimal_genesis.copy()
    for slot in range(1, 20):  # two epoch boundaries
        block = make_block(cached, privkeys, slot, attestation_window(slot, cached.config, 3))
        state_transition(cached, block, validate_state_root=True)
        with spec_mode():
            state_transition(uncached, block, validate_state_root=True)
            reference = _views(uncached)
        assert _views(cached) == reference
        clear_caches(cached)
        assert _views(cached) == reference
    assert cached.hash_tree_root() == uncached.hash_tree_root()


def test_copies_share_caches_but_not_answers(minimal_genesis: Any) -> None:
    a = minimal_genesis
    _views(a)  # fill the shared caches
    b = a.copy()
    assert b._cache is a._cache
    # A crafted change to b's registry for the current epoch: b's committees must follow it.
    b.validators[5].exit_epoch = get_current_epoch(b)
    b.validators[9].effective_balance = 0
    got_a, got_b = _views(a), _views(b)
    with spec_mode():
        assert got_a == _views(a)
        assert got_b == _views(b)
    assert got_a != got_b


def test_committee_keys_follow_the_registry(minimal_genesis: Any) -> None:
    a = minimal_genesis
    epoch = get_current_epoch(a)
    committee = get_crosslink_committee(a, epoch, 0)
    keys = cache.committee_keys(a, committee)
    assert keys is not None
    assert keys.pubkeys == tuple(a.validators[i].pubkey for i in committee)
    assert keys.members == frozenset(committee) and keys.max_index == max(committee)
    # A copy whose registry differs (a changed pubkey, which the spec never does, so that only
    # the content key can tell them apart) gets its own pubkeys from the shared cache.
    b = a.copy()
    b.validators[committee[0]].pubkey = b"\x11" * 48
    other = cache.committee_keys(b, committee)
    assert other is not None and other.pubkeys[0] == b"\x11" * 48 and other.pubkeys[1:] == keys.pubkeys[1:]
    assert cache.committee_keys(a, committee) == keys
    assert cache.committee_keys(a, (len(a.validators),)) is None  # past the registry
    with spec_mode():
        assert cache.committee_keys(a, committee) is None


def test_attestation_data_slot_from_the_epoch_view(minimal_genesis: Any, privkeys: list[int]) -> None:
    from beacon.state import get_attestation_data_slot, process_slots

    state = minimal_genesis.copy()
    process_slots(state, state.config.SLOTS_PER_EPOCH * 2 + 3)
    epoch = get_current_epoch(state)
    cfg = state.config
    datas = []
    for e in (epoch - 2, epoch - 1, epoch, epoch + 1):
        for shard in range(0, cfg.SHARD_COUNT, 3):
            data = state.types.AttestationData()
            data.target.epoch, data.crosslink.shard = e, shard
            datas.append(data)
    got = [get_attestation_data_slot(state, d) for d in datas]
    with spec_mode():
        assert got == [get_attestation_data_slot(state, d) for d in datas]


def test_proposer_at_slot_from_any_state_of_the_epoch(minimal_genesis: Any, privkeys: list[int]) -> None:
    """The slasher asks the proposer of a range-synced block from the nearest kept state of
    its epoch; each slot's answer equals the block's own post-state's, cached or not."""
    from beacon.state import get_beacon_proposer_index_at_slot, process_slots

    cfg = minimal_genesis.config
    spe = cfg.SLOTS_PER_EPOCH
    states = [minimal_genesis.copy()]
    for slot in range(1, 2 * spe + 2):  # blocks (with attestations) through an epoch boundary
        post = states[-1].copy()
        state_transition(post, make_block(post, privkeys, slot, attestation_window(slot, cfg, 3)), True)
        states.append(post)
    for anchor in (states[spe], states[spe + 3]):  # the epoch-start block's post-state, a later one
        for slot in range(spe, 2 * spe):
            want = get_beacon_proposer_index(states[slot])
            assert get_beacon_proposer_index_at_slot(anchor, slot) == want
            fresh = anchor.copy()
            clear_caches(fresh)
            with spec_mode():
                assert get_beacon_proposer_index_at_slot(fresh, slot) == want
    later = states[spe].copy()
    process_slots(later, 2 * spe)
    with pytest.raises(ValueError, match="not in the state's epoch"):
        get_beacon_proposer_index_at_slot(later, spe + 1)


def _deposit(state: Any, data: Any) -> Any:
    """A Deposit for ``data`` provable as the state's next deposit (a one-leaf tree on top)."""
    from genesis.deposits import DepositTree

    cfg = state.config
    tree = DepositTree(cfg.DEPOSIT_CONTRACT_TREE_DEPTH)
    # Deposits before this one are not re-proved here: put the new one at the state's index by
    # padding the tree with zero leaves, then point eth1_data at the resulting root.
    for _ in range(state.eth1_deposit_index):
        tree.push(b"\x00" * 32)
    proof = tree.push(data.hash_tree_root())
    state.eth1_data.deposit_root = tree.root()
    state.eth1_data.deposit_count = state.eth1_deposit_index + 1
    return state.types.Deposit(proof=proof, data=data)


def test_pubkey_index_per_fork(minimal_genesis: Any) -> None:
    cfg = minimal_genesis.config
    keys = interop_keypairs(70)
    new_a, new_b = keys[64], keys[65]
    top_up = keys[3]
    results = []
    for mode in (False, True):
        cache.set_spec_mode(mode)
        try:
            a = minimal_genesis.copy()
            process_deposit(a, _deposit(a, make_deposit_data(cfg, *top_up, amount=10**9)))  # builds a's map
            b = a.copy()  # shares a's StateCache object
            process_deposit(a, _deposit(a, make_deposit_data(cfg, *new_a)))
            process_deposit(b, _deposit(b, make_deposit_data(cfg, *new_b)))  # same index, other key
            process_deposit(b, _deposit(b, make_deposit_data(cfg, *new_a)))  # new to b: appended
            process_deposit(a, _deposit(a, make_deposit_data(cfg, *new_a, amount=10**9)))  # top-up in a
            results.append((a.hash_tree_root(), b.hash_tree_root(), len(a.validators), len(b.validators)))
        finally:
            cache.set_spec_mode(False)
    assert results[0] == results[1]
    assert results[0][2:] == (65, 66)


# --- the vectors, again, with every cache off -------------------------------------------------

def _vector_cases(runner: str, handler: str) -> list[Any]:
    from spectests import vectors_root
    from spectests.registry import Case

    root = vectors_root(os.environ.get("PYBEACON_VECTORS") or ("/tmp/vec/x" if Path("/tmp/vec/x").is_dir() else None))
    base = root / "tests" / "minimal" / "phase0" / runner / handler
    if not base.is_dir():
        pytest.skip(f"minimal {runner}/{handler} vectors not on disk under {root} (pybeacon spectest fetch)")
    return [Case("minimal", runner, handler, suite.name, case.name, case)
            for suite in sorted(base.iterdir()) for case in sorted(suite.iterdir())]


@pytest.mark.parametrize("runner,handler", [
    ("sanity", "blocks"), ("sanity", "slots"), ("operations", "attestation"),
    ("operations", "attester_slashing"), ("operations", "proposer_slashing"), ("operations", "deposit"),
    ("genesis", "initialization"),
])
def test_vectors_pass_in_spec_mode(runner: str, handler: str) -> None:
    import spectests.handlers.genesis  # noqa: F401 - registers
    import spectests.handlers.operations  # noqa: F401
    import spectests.handlers.sanity  # noqa: F401
    from spectests.registry import lookup

    cases = _vector_cases(runner, handler)
    assert cases
    fn = lookup(runner, handler)
    with spec_mode(), bls.enabled(True):
        for case in cases:
            fn(case)
