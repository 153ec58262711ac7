"""genesis/* vectors (specs/test_formats/genesis): initialization from eth1 deposits, and validity."""
from __future__ import annotations

from beacon.state.genesis import initialize_beacon_state_from_eth1, is_valid_genesis_state
from spectests.handlers._state_cases import assert_states_equal, bls_for, load, types_of
from spectests.registry import Case, register


@register("genesis", "initialization")
def genesis_initialization(case: Case) -> None:
    t = types_of(case)
    eth1_block_hash = case.bytes("eth1_block_hash.ssz")
    assert len(eth1_block_hash) == 32, "eth1_block_hash.ssz must be 32 bytes"
    eth1_timestamp = case.yaml("eth1_timestamp.yaml")
    count = case.meta["deposits_count"]
    deposits = [load(case, f"deposits_{i}", t.Deposit) for i in range(count)]
    with bls_for(case):
        state = initialize_beacon_state_from_eth1(eth1_block_hash, eth1_timestamp, deposits, cfg=case.config)
    assert_states_equal(state, load(case, "state", t.BeaconState))


@register("genesis", "validity")
def genesis_validity(case: Case) -> None:
    t = types_of(case)
    genesis = load(case, "genesis", t.BeaconState)
    expected = case.yaml("is_valid.yaml")
    assert isinstance(expected, bool), f"is_valid.yaml must be a boolean, got {expected!r}"
    got = is_valid_genesis_state(genesis)
    assert got == expected, f"is_valid_genesis_state returned {got}, expected {expected}"


