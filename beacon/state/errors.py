"""The state layer's exception family: what rule failed, on which object."""
from __future__ import annotations


class StateTransitionError(Exception):
    """Base: the block or slot cannot be applied. The caller's state must be left untouched."""


class InvalidBlock(StateTransitionError):
    """The block breaks a rule of process_block_header/randao/eth1 or the state root check."""


class InvalidOperation(InvalidBlock):
    """An operation inside the block (slashing, attestation, deposit, exit, transfer) is invalid."""

    def __init__(self, kind: str, index: int | None, reason: str) -> None:
        where = f"{kind}[{index}]" if index is not None else kind
        super().__init__(f"{where}: {reason}")
        self.kind = kind
        self.index = index
        self.reason = reason


class InvalidSlot(StateTransitionError):
    """process_slots asked to go backwards or to the current slot."""
