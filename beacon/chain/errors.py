"""The chain layer's errors: why a block or attestation was not (yet) imported.

`Retry`-kind errors (unknown parent/target/voted block, from the future) mean "hold and try
again later"; the others mean "drop, and score the sender".
"""
from __future__ import annotations


class ChainError(Exception):
    """Base of the chain layer's family."""


class ForkChoiceError(ChainError):
    """A fork-choice rule (0_fork-choice.md) rejects the object."""


class Retry(ForkChoiceError):
    """Not importable yet; may become importable later (held by the import pipeline)."""


class UnknownParent(Retry):
    pass


class FutureBlock(Retry):
    pass


class UnknownTarget(Retry):
    pass


class UnknownBlockRoot(Retry):
    """An attestation votes for a block we do not have."""


class FutureAttestation(Retry):
    pass


class FinalizedConflict(ForkChoiceError):
    """The block does not descend from the finalized block, or is at/below the finalized slot."""


class InvalidAttestation(ForkChoiceError):
    pass


class BlockRejected(ChainError):
    """The state transition rejected the block; `cause` is the InvalidBlock from beacon.state."""
