"""Block processing: attester slashings (0_beacon-chain.md v0.8.2, "Operations / Attester slashings")."""
from __future__ import annotations

from typing import Any

from beacon.state.accessors import get_current_epoch
from beacon.state.block._checks import require
from beacon.state.mutators import slash_validator
from beacon.state.predicates import (
    is_slashable_attestation_data, is_slashable_validator, is_valid_indexed_attestation,
)

KIND = "attester_slashing"


# spec v0.8.2: Operations / Attester slashings / process_attester_slashing
def process_attester_slashing(state: Any, attester_slashing: Any) -> None:
    attestation_1 = attester_slashing.attestation_1
    attestation_2 = attester_slashing.attestation_2
    require(is_slashable_attestation_data(attestation_1.data, attestation_2.data), KIND,
            "attestation data is not slashable (neither double nor surround vote)")
    require(is_valid_indexed_attestation(state, attestation_1), KIND, "attestation_1 is not a valid indexed attestation")
    require(is_valid_indexed_attestation(state, attestation_2), KIND, "attestation_2 is not a valid indexed attestation")

    slashed_any = False
    attesting_indices_1 = list(attestation_1.custody_bit_0_indices) + list(attestation_1.custody_bit_1_indices)
    attesting_indices_2 = list(attestation_2.custody_bit_0_indices) + list(attestation_2.custody_bit_1_indices)
    current_epoch = get_current_epoch(state)
    for index in sorted(set(attesting_indices_1).intersection(attesting_indices_2)):
        if is_slashable_validator(state.validators[index], current_epoch):
            slash_validator(state, index)
            slashed_any = True
    require(slashed_any, KIND, "no attester was slashable")
