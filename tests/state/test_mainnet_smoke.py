"""Mainnet preset smoke test: a small interop state through an epoch boundary with signed blocks
(no constant of the minimal preset is baked in anywhere)."""
from __future__ import annotations


from beacon.state import cache, get_current_epoch, process_slots, state_transition
from genesis.keys import interop_privkeys
from tests.state.builders import attestation_window, make_block
from tests.state.conftest import genesis_state

COUNT = 256


def test_mainnet_blocks_across_epoch_boundary() -> None:
    state = genesis_state("mainnet", COUNT)
    cfg = state.config
    assert cfg.preset == "mainnet" and cfg.SLOTS_PER_EPOCH > 8  # not the minimal shape
    privkeys = interop_privkeys(COUNT)
    # Empty slots to just before the boundary, then blocks with attestations across it.
    process_slots(state, cfg.SLOTS_PER_EPOCH - 3)
    reference = state.copy()
    blocks = []
    for slot in range(cfg.SLOTS_PER_EPOCH - 2, cfg.SLOTS_PER_EPOCH + 3):
        block = make_block(state, privkeys, slot, attestation_window(slot, cfg, 2))
        assert len(block.body.attestations) == 2
        state_transition(state, block, validate_state_root=True)
        blocks.append(block)
    assert get_current_epoch(state) == 1
    assert len(state.previous_epoch_attestations) > 0 and len(state.current_epoch_attestations) > 0
    # The same blocks without any cache give the same state.
    cache.set_spec_mode(True)
    try:
        for block in blocks:
            state_transition(reference, block, validate_state_root=True)
    finally:
        cache.set_spec_mode(False)
    assert reference.hash_tree_root() == state.hash_tree_root()
