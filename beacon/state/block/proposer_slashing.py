"""Block processing: proposer slashings (0_beacon-chain.md v0.8.2, "Operations / Proposer slashings")."""
from __future__ import annotations

from typing import Any

from beacon.state.accessors import get_current_epoch, get_domain
from beacon.state.block._checks import require
from beacon.state.misc import compute_epoch_of_slot
from beacon.state.mutators import slash_validator
from beacon.state.predicates import is_slashable_validator
from beacon.state.signatures import bls_verify

KIND = "proposer_slashing"


# spec v0.8.2: Operations / Proposer slashings / process_proposer_slashing
def process_proposer_slashing(state: Any, proposer_slashing: Any) -> None:
    cfg = state.config
    require(proposer_slashing.proposer_index < len(state.validators), KIND, "unknown proposer index")
    proposer = state.validators[proposer_slashing.proposer_index]
    header_1 = proposer_slashing.header_1
    header_2 = proposer_slashing.header_2
    # Verify that the epoch is the same
    require(compute_epoch_of_slot(header_1.slot, cfg=cfg) == compute_epoch_of_slot(header_2.slot, cfg=cfg),
            KIND, "headers are from different epochs")
    # But the headers are different
    require(header_1 != header_2, KIND, "headers are identical")
    # Check proposer is slashable
    require(is_slashable_validator(proposer, get_current_epoch(state)), KIND, "proposer is not slashable")
    # Signatures are valid
    for header in (header_1, header_2):
        domain = get_domain(state, cfg.DOMAIN_BEACON_PROPOSER, compute_epoch_of_slot(header.slot, cfg=cfg))
        require(bls_verify(proposer.pubkey, header.signing_root(), header.signature, domain),
                KIND, "invalid header signature")

    slash_validator(state, proposer_slashing.proposer_index)
