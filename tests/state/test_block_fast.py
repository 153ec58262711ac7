"""The block path's shortcuts give what the spec helpers give."""
from __future__ import annotations

from typing import Any

from beacon.state import get_crosslink_committee, get_indexed_attestation, process_slots
from beacon.state.block.attestation import _indexed_attestation
from tests.state.builders import make_attestations


def test_indexed_attestation_view_matches_get_indexed_attestation(minimal_genesis: Any, privkeys: list[int]) -> None:
    state = minimal_genesis
    process_slots(state, 3)
    attestations = make_attestations(state, privkeys, [1, 2])
    assert attestations
    for n, attestation in enumerate(attestations):
        # Partial participation and a custody bit, so both index lists and the difference matter.
        bits = attestation.aggregation_bits
        for i in range(0, len(bits), 3):
            bits[i] = False
        if len(bits) > 1:
            attestation.custody_bits[1] = bits[1]
        committee = get_crosslink_committee(state, attestation.data.target.epoch, attestation.data.crosslink.shard)
        spec = get_indexed_attestation(state, attestation)
        view = _indexed_attestation(attestation, committee)
        assert view.custody_bit_0_indices == list(spec.custody_bit_0_indices), n
        assert view.custody_bit_1_indices == list(spec.custody_bit_1_indices), n
        assert view.data == spec.data and view.signature == spec.signature
