"""The spec's bls_* calls as the state transition makes them, with optional block-wide batching.

Outside a batch, `bls_verify`/`bls_verify_multiple` check at once (what the operations
vectors and single-operation callers need). Inside `collect_signatures()` (process_block
opens one) they only record a SignatureSet labelled with the object that carried it and
return True; the block then checks all sets in one randomised multi-pairing, after every
other rule of the block has passed. If the batch fails, each set is checked alone so the error
names the first bad signature in block order. The one visible difference from the in-order
spec: when a block breaks both a signature rule and a later non-signature rule, the
non-signature error is the one reported (the block is invalid either way).

Deposits never go through the batch (`bls_verify_now`): a bad deposit signature is not a
block failure, the deposit is just skipped, so its answer is needed on the spot.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from beacon.crypto import bls
from beacon.state.errors import InvalidBlock, InvalidOperation


@dataclass
class _Pending:
    label: tuple[str, int | None]  # (what, index in the block) for the error message
    sset: "bls.SignatureSet"


@dataclass
class SignatureBatch:
    sets: list[_Pending] = field(default_factory=list)
    label: tuple[str, int | None] = ("block", None)  # the object being processed now
    # A segment batch (defer_signatures) spans several blocks: the blocks' own verify() calls
    # do nothing and the owner checks everything at once at the end.
    segment: bool = False

    def ok(self) -> bool:
        """One randomised multi-pairing over every set; off the main thread the fast backend
        pairs on arkworks, which releases the GIL."""
        return not self.sets or bls.verify_batch([p.sset for p in self.sets])

    def verify(self) -> None:
        """Raise the error for the first bad set (in block order), if any."""
        if self.ok():
            return
        results = bls.verify_each([p.sset for p in self.sets])
        for pending, ok in zip(self.sets, results):
            if not ok:
                raise _signature_error(pending.label)
        # A batch that fails as a whole while each set passes alone would mean the random
        # weights hit a ~2^-64 event; treat it as invalid rather than guess.
        raise InvalidBlock("signature batch failed although every set verified alone")


_current: contextvars.ContextVar[SignatureBatch | None] = contextvars.ContextVar("signature_batch", default=None)


def _signature_error(label: tuple[str, int | None]) -> InvalidBlock:
    kind, index = label
    if kind in ("proposer_slashing", "attester_slashing", "attestation", "voluntary_exit", "transfer"):
        return InvalidOperation(kind, index, "invalid signature")
    return InvalidBlock(f"{kind}: invalid signature")


class _JoinedBatch:
    """What a block's collect_signatures() yields inside a segment: verify() is the segment's job."""

    def __init__(self, segment: SignatureBatch) -> None:
        self.segment = segment

    def verify(self) -> None:
        return None


@contextmanager
def collect_signatures() -> Iterator[SignatureBatch | _JoinedBatch]:
    """Defer bls_verify/bls_verify_multiple inside the block; the caller must call .verify()."""
    outer = _current.get()
    if outer is not None and outer.segment:
        yield _JoinedBatch(outer)
        return
    with _active(SignatureBatch()) as batch:
        yield batch


@contextmanager
def defer_signatures() -> Iterator[SignatureBatch]:
    """Collect the signatures of every block processed inside, for one check at the end.

    For importing a run of blocks (range sync): one multi-pairing for the whole run, which the
    caller may run in a worker thread. Until `.ok()` says True, nothing computed inside may be
    trusted; on False the caller re-imports block by block to find the culprit.
    """
    with _active(SignatureBatch(segment=True)) as batch:
        yield batch


@contextmanager
def _active(batch: SignatureBatch) -> Iterator[SignatureBatch]:
    token = _current.set(batch)
    try:
        yield batch
    finally:
        _current.reset(token)


@contextmanager
def signature_label(kind: str, index: int | None) -> Iterator[None]:
    """Name the object whose signatures are recorded next (for the batch's error message)."""
    batch = _current.get()
    if batch is None:
        yield
        return
    previous = batch.label
    batch.label = (kind, index)
    try:
        yield
    finally:
        batch.label = previous


def _defer(sset: "bls.SignatureSet") -> bool:
    batch = _current.get()
    if batch is None:
        return bls.verify_batch([sset])
    batch.sets.append(_Pending(batch.label, sset))
    return True


# spec v0.8.2: Crypto / bls_verify
def bls_verify(pubkey: bytes, message_hash: bytes, signature: bytes, domain: bytes) -> bool:
    """Verify now, or record for the current block's batch (then True; the batch decides)."""
    if _current.get() is None:
        return bls.verify(pubkey, message_hash, signature, domain)
    return _defer(bls.SignatureSet.single(pubkey, message_hash, signature, domain))


# spec v0.8.2: Crypto / bls_verify_multiple
def bls_verify_multiple(pubkeys: Sequence[bytes], message_hashes: Sequence[bytes],
                        signature: bytes, domain: bytes) -> bool:
    if _current.get() is None:
        return bls.verify_multiple(pubkeys, message_hashes, signature, domain)
    if len(pubkeys) != len(message_hashes):
        return False
    return _defer(bls.SignatureSet.multiple(pubkeys, message_hashes, signature, domain))


def bls_verify_multiple_groups(pubkey_groups: Sequence[Sequence[bytes]], message_hashes: Sequence[bytes],
                               signature: bytes, domain: bytes) -> bool:
    """bls_verify_multiple([bls_aggregate_pubkeys(g) for g in groups], ...) without aggregating
    eagerly: the batch sums each group itself (so a malformed key fails the check, as it would
    fail the spec's aggregation)."""
    return _defer(bls.SignatureSet.grouped(pubkey_groups, message_hashes, signature, domain))


def bls_verify_now(pubkey: bytes, message_hash: bytes, signature: bytes, domain: bytes) -> bool:
    """bls_verify that is never deferred (deposits: a bad signature only skips the deposit)."""
    return bls.verify(pubkey, message_hash, signature, domain)


# spec v0.8.2: Crypto / bls_aggregate_pubkeys
def bls_aggregate_pubkeys(pubkeys: Sequence[bytes]) -> bytes:
    return bls.aggregate_pubkeys(pubkeys)
