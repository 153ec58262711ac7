"""operations/* vectors (specs/test_formats/operations): one operation on a pre-state."""
from __future__ import annotations

from typing import Any, Callable

from beacon.state.block import (
    process_attestation, process_attester_slashing, process_block_header, process_deposit,
    process_proposer_slashing, process_transfer, process_voluntary_exit,
)
from spectests.handlers._state_cases import load, run_transition, types_of
from spectests.registry import Case, register

# handler -> (input file name, SSZ type name, processing call)
OPERATIONS: dict[str, tuple[str, str, Callable[[Any, Any], None]]] = {
    "attestation": ("attestation", "Attestation", process_attestation),
    "attester_slashing": ("attester_slashing", "AttesterSlashing", process_attester_slashing),
    "block_header": ("block", "BeaconBlock", process_block_header),
    "deposit": ("deposit", "Deposit", process_deposit),
    "proposer_slashing": ("proposer_slashing", "ProposerSlashing", process_proposer_slashing),
    "transfer": ("transfer", "Transfer", process_transfer),
    "voluntary_exit": ("voluntary_exit", "VoluntaryExit", process_voluntary_exit),
}


def _make(handler: str) -> Callable[[Case], None]:
    input_name, type_name, process = OPERATIONS[handler]

    def run(case: Case) -> None:
        t = types_of(case)
        pre = load(case, "pre", t.BeaconState)
        operation = load(case, input_name, t.by_name(type_name))
        run_transition(case, pre, lambda state: process(state, operation))

    run.__name__ = f"operations_{handler}"
    return run


for _handler in OPERATIONS:
    register("operations", _handler)(_make(_handler))
