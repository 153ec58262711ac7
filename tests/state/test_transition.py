"""state_transition: valid blocks apply; any invalid block raises a specific error and leaves
the caller's state exactly as it was (the transition works on a copy)."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from beacon.state import (
    InvalidBlock, InvalidOperation, InvalidSlot, apply_block, get_beacon_proposer_index, process_slots,
    state_transition,
)
from tests.state.builders import attestation_window, make_block, resign


def _advance(state: Any, privkeys: list[int], upto: int) -> Any:
    for slot in range(state.slot + 1, upto + 1):
        state_transition(state, make_block(state, privkeys, slot, attestation_window(slot, state.config, 4)), True)
    return state


def test_valid_blocks_apply_in_place_and_apply_block_leaves_pre(minimal_genesis: Any, privkeys: list[int]) -> None:
    state = minimal_genesis
    block = make_block(state, privkeys, 1)
    before = state.serialize()
    post = apply_block(state, block)
    assert state.serialize() == before  # apply_block never touches pre
    same = state_transition(state, block, validate_state_root=True)
    assert same is state and state.hash_tree_root() == post.hash_tree_root() == block.state_root
    assert state.slot == 1


def _mutations(cfg: Any) -> dict[str, tuple[Callable[[Any], None], type, str]]:
    """name -> (how to break the block, expected error class, text the message must contain)."""

    def bad_randao(b: Any) -> None:
        b.body.randao_reveal = b.signature  # a valid G2 point, wrong message

    def bad_proposer_sig(b: Any) -> None:
        b.signature = b.body.randao_reveal

    def bad_attestation_sig(b: Any) -> None:
        b.body.attestations[1].signature = b.body.attestations[0].signature

    def bad_attestation_source(b: Any) -> None:
        b.body.attestations[2].data.source.epoch += 1

    def bad_parent(b: Any) -> None:
        b.parent_root = b"\x11" * 32

    def bad_state_root(b: Any) -> None:
        b.state_root = b"\x22" * 32

    def bad_deposit_count(b: Any) -> None:
        b.body.eth1_data.deposit_count += 1  # a vote only; harmless unless it wins
        b.body.deposits.append(b.body.deposits.ssz_type.elem())  # no deposit is outstanding

    def duplicate_attestation_bits(b: Any) -> None:
        b.body.attestations[0].aggregation_bits.append(True)

    return {
        "randao": (bad_randao, InvalidBlock, "randao reveal: invalid signature"),
        "proposer_signature": (bad_proposer_sig, InvalidBlock, "proposer signature: invalid signature"),
        "attestation_signature": (bad_attestation_sig, InvalidOperation, "attestation[1]: invalid signature"),
        "attestation_source": (bad_attestation_source, InvalidOperation, "attestation[2]: source"),
        "parent_root": (bad_parent, InvalidBlock, "parent root"),
        "state_root": (bad_state_root, InvalidBlock, "state root"),
        "deposit_count": (bad_deposit_count, InvalidBlock, "deposits"),
        "bitfield_length": (duplicate_attestation_bits, InvalidOperation, "attestation[0]: bitfield lengths"),
    }


@pytest.mark.parametrize("name", list(_mutations(None)))
def test_invalid_block_leaves_state_untouched(name: str, minimal_genesis: Any, privkeys: list[int]) -> None:
    state = _advance(minimal_genesis, privkeys, 9)  # past the first epoch boundary
    slot = 10
    block = make_block(state, privkeys, slot, attestation_window(slot, state.config, 4))
    assert len(block.body.attestations) >= 3
    mutate, error, text = _mutations(state.config)[name]
    mutate(block)
    if name != "proposer_signature":
        resign(state, block, privkeys)  # so the block fails on the rule under test, not its signature
    before_bytes = state.serialize()
    before_root = state.hash_tree_root()
    with pytest.raises(error) as info:
        state_transition(state, block, validate_state_root=True)
    assert text in str(info.value), str(info.value)
    assert state.hash_tree_root() == before_root
    assert state.serialize() == before_bytes
    # ... and the untouched state still accepts the honest block.
    good = make_block(state, privkeys, slot, attestation_window(slot, state.config, 4))
    state_transition(state, good, validate_state_root=True)
    assert state.slot == slot


def test_operation_error_names_object(minimal_genesis: Any, privkeys: list[int]) -> None:
    state = _advance(minimal_genesis, privkeys, 9)
    block = make_block(state, privkeys, 10, attestation_window(10, state.config, 4))
    block.body.attestations[3].data.crosslink.data_root = b"\x01" * 32
    resign(state, block, privkeys)
    with pytest.raises(InvalidOperation) as info:
        state_transition(state, block)
    assert (info.value.kind, info.value.index) == ("attestation", 3)
    assert "data root" in info.value.reason


def test_slot_going_backwards(minimal_genesis: Any, privkeys: list[int]) -> None:
    state = _advance(minimal_genesis, privkeys, 3)
    block = state.types.BeaconBlock(slot=2)
    before = state.serialize()
    with pytest.raises(InvalidSlot):
        state_transition(state, block)
    with pytest.raises(InvalidSlot):
        process_slots(state, 2)
    assert state.serialize() == before


def test_slashed_proposer_is_rejected(minimal_genesis: Any, privkeys: list[int]) -> None:
    state = minimal_genesis
    block = make_block(state, privkeys, 1)
    probe = state.copy()
    process_slots(probe, 1)
    state.validators[get_beacon_proposer_index(probe)].slashed = True
    probe = state.copy()  # the slashing changed the state root, hence the parent root
    process_slots(probe, 1)
    block.parent_root = probe.latest_block_header.signing_root()
    resign(state, block, privkeys)
    before = state.serialize()
    with pytest.raises(InvalidBlock, match="proposer is slashed"):
        state_transition(state, block)
    assert state.serialize() == before
