"""Block processing: voluntary exits (0_beacon-chain.md v0.8.2, "Operations / Voluntary exits")."""
from __future__ import annotations

from typing import Any

from beacon.state.accessors import get_current_epoch, get_domain
from beacon.state.block._checks import require
from beacon.state.mutators import initiate_validator_exit
from beacon.state.predicates import is_active_validator
from beacon.state.signatures import bls_verify

KIND = "voluntary_exit"


# spec v0.8.2: Operations / Voluntary exits / process_voluntary_exit
def process_voluntary_exit(state: Any, exit: Any) -> None:  # noqa: A002 - the spec's name
    cfg = state.config
    require(exit.validator_index < len(state.validators), KIND, "unknown validator index")
    validator = state.validators[exit.validator_index]
    current_epoch = get_current_epoch(state)
    # Verify the validator is active
    require(is_active_validator(validator, current_epoch), KIND, "validator is not active")
    # Verify the validator has not yet exited
    require(validator.exit_epoch == cfg.FAR_FUTURE_EPOCH, KIND, "validator has already initiated an exit")
    # Exits must specify an epoch when they become valid; they are not valid before then
    require(current_epoch >= exit.epoch, KIND, "exit epoch is in the future")
    # Verify the validator has been active long enough
    require(current_epoch >= validator.activation_epoch + cfg.PERSISTENT_COMMITTEE_PERIOD, KIND,
            "validator has not been active for PERSISTENT_COMMITTEE_PERIOD")
    # Verify signature
    domain = get_domain(state, cfg.DOMAIN_VOLUNTARY_EXIT, exit.epoch)
    require(bls_verify(validator.pubkey, exit.signing_root(), exit.signature, domain), KIND, "invalid signature")
    # Initiate exit
    initiate_validator_exit(state, exit.validator_index)
