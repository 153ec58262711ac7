"""Attestation and operation pools: what a proposer may put in its block.

Attestations are kept per AttestationData (by its hash_tree_root). Attestations with identical
data and disjoint aggregation bits are merged into one aggregate (bits OR-ed, signatures added)
as they arrive, so a block carries one attestation per committee where possible. An
attestation whose bits are a subset of one already held adds nothing and is dropped. Entries
whose target epoch is older than the previous epoch can never be included
(`process_attestation`: target in previous or current epoch) and are pruned.

Exits and slashings are few; they are kept by the validator they concern and re-checked with
the spec's own processing functions against the proposer's state before inclusion.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from beacon.crypto import bls

log = logging.getLogger("beacon.validator.pools")


@dataclass
class _Aggregate:
    attestation: Any
    bits: int  # aggregation bits as an int, for cheap subset/overlap tests
    verified: bool  # signature known to be valid (checked by fork choice, or signed by us)


@dataclass
class _DataEntry:
    data: Any
    target_epoch: int
    aggregates: list[_Aggregate] = field(default_factory=list)


def _bits_to_int(bits: Any) -> int:
    value = 0
    for i, b in enumerate(bits):
        if b:
            value |= 1 << i
    return value


class AttestationPool:
    def __init__(self, max_per_data: int = 16) -> None:
        self._entries: dict[bytes, _DataEntry] = {}
        self.max_per_data = max_per_data

    def __len__(self) -> int:
        return sum(len(e.aggregates) for e in self._entries.values())

    def add(self, attestation: Any, verified: bool) -> bool:
        """Add one (possibly aggregated) attestation; True if the pool learned something new."""
        key = attestation.data.hash_tree_root()
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _DataEntry(attestation.data.copy(), int(attestation.data.target.epoch))
        bits = _bits_to_int(attestation.aggregation_bits)
        if bits == 0:
            return False
        for agg in entry.aggregates:
            if bits & ~agg.bits == 0:
                agg.verified = agg.verified or verified and bits == agg.bits
                return False  # nothing new
        for agg in entry.aggregates:
            if bits & agg.bits == 0 and len(attestation.aggregation_bits) == len(agg.attestation.aggregation_bits):
                merged = agg.attestation.copy()
                merged.aggregation_bits = [a or b for a, b in zip(agg.attestation.aggregation_bits,
                                                                   attestation.aggregation_bits)]
                merged.signature = bls.aggregate_signatures([bytes(agg.attestation.signature),
                                                             bytes(attestation.signature)])
                agg.attestation, agg.bits, agg.verified = merged, agg.bits | bits, agg.verified and verified
                return True
        entry.aggregates.append(_Aggregate(attestation.copy(), bits, verified))
        if len(entry.aggregates) > self.max_per_data:
            # Keep the fullest aggregates: they are the ones a block would carry.
            entry.aggregates.sort(key=lambda a: -bin(a.bits).count("1"))
            del entry.aggregates[self.max_per_data:]
        return True

    def candidates(self, min_target_epoch: int) -> list[tuple[Any, bool]]:
        """(attestation, verified) for every aggregate with target epoch >= min_target_epoch."""
        out = []
        for entry in self._entries.values():
            if entry.target_epoch >= min_target_epoch:
                out.extend((a.attestation, a.verified) for a in entry.aggregates)
        return out

    def mark_verified(self, attestation: Any) -> None:
        entry = self._entries.get(attestation.data.hash_tree_root())
        if entry is not None:
            bits = _bits_to_int(attestation.aggregation_bits)
            for agg in entry.aggregates:
                if agg.bits == bits:
                    agg.verified = True

    def remove(self, attestation: Any) -> None:
        entry = self._entries.get(attestation.data.hash_tree_root())
        if entry is not None:
            bits = _bits_to_int(attestation.aggregation_bits)
            entry.aggregates = [a for a in entry.aggregates if a.bits != bits]

    def prune(self, current_epoch: int) -> int:
        """Drop data that can no longer be included (target before the previous epoch)."""
        floor = current_epoch - 1
        old = [k for k, e in self._entries.items() if e.target_epoch < floor or not e.aggregates]
        for k in old:
            del self._entries[k]
        return len(old)


class OperationPool:
    """Voluntary exits and slashings waiting for a block (gossip or API)."""

    def __init__(self) -> None:
        self.exits: dict[int, Any] = {}  # validator index -> VoluntaryExit
        self.proposer_slashings: dict[int, Any] = {}  # proposer index -> ProposerSlashing
        self.attester_slashings: dict[bytes, Any] = {}  # hash_tree_root -> AttesterSlashing

    def __len__(self) -> int:
        return len(self.exits) + len(self.proposer_slashings) + len(self.attester_slashings)

    def add_exit(self, exit_: Any) -> bool:
        index = int(exit_.validator_index)
        if index in self.exits:
            return False
        self.exits[index] = exit_.copy()
        return True

    def add_proposer_slashing(self, slashing: Any) -> bool:
        index = int(slashing.proposer_index)
        if index in self.proposer_slashings:
            return False
        self.proposer_slashings[index] = slashing.copy()
        return True

    def add_attester_slashing(self, slashing: Any) -> bool:
        key = slashing.hash_tree_root()
        if key in self.attester_slashings:
            return False
        self.attester_slashings[key] = slashing.copy()
        return True

    def for_block(self, state: Any) -> tuple[list[Any], list[Any], list[Any]]:
        """(proposer_slashings, attester_slashings, voluntary_exits) valid on `state` (the
        proposer's pre-state at the block's slot), each list capped at the block maximum.
        Each is applied in order to a scratch copy with the spec's processing function, so
        two operations that cannot both be valid (two slashings of one validator) are caught."""
        from beacon.state import process_attester_slashing, process_proposer_slashing, process_voluntary_exit
        from beacon.state.errors import StateTransitionError

        cfg = state.config
        if not len(self):
            return [], [], []
        scratch = state.copy()

        def take(pool: dict, process: Callable[[Any, Any], None], cap: int) -> list[Any]:
            chosen = []
            for key, op in list(pool.items()):
                if len(chosen) >= cap:
                    break
                if _settled(state, op):
                    del pool[key]  # already done on chain: can never be valid again
                    continue
                try:
                    process(scratch, op)
                except (StateTransitionError, AssertionError, IndexError) as e:
                    # Not valid on this state; it may become valid (an exit's epoch), so it stays.
                    log.debug("not including pooled %s: %s", type(op).__name__, e)
                    continue
                chosen.append(op)
            return chosen

        ps = take(self.proposer_slashings, process_proposer_slashing, cfg.MAX_PROPOSER_SLASHINGS)
        asl = take(self.attester_slashings, process_attester_slashing, cfg.MAX_ATTESTER_SLASHINGS)
        ex = take(self.exits, process_voluntary_exit, cfg.MAX_VOLUNTARY_EXITS)
        return ps, asl, ex

    def prune_included(self, block: Any) -> None:
        """Forget operations a canonical block carried."""
        for ex in block.body.voluntary_exits:
            self.exits.pop(int(ex.validator_index), None)
        for ps in block.body.proposer_slashings:
            self.proposer_slashings.pop(int(ps.proposer_index), None)
        for asl in block.body.attester_slashings:
            self.attester_slashings.pop(asl.hash_tree_root(), None)


def _settled(state: Any, op: Any) -> bool:
    """True when what `op` asks for has already happened in `state` (permanently)."""
    far = state.config.FAR_FUTURE_EPOCH
    name = type(op).__name__
    if name == "ProposerSlashing":
        index = int(op.proposer_index)
        return index < len(state.validators) and bool(state.validators[index].slashed)
    if name == "VoluntaryExit":
        index = int(op.validator_index)
        return index < len(state.validators) and int(state.validators[index].exit_epoch) != far
    if name == "AttesterSlashing":
        both = (set(op.attestation_1.custody_bit_0_indices) | set(op.attestation_1.custody_bit_1_indices)) & \
               (set(op.attestation_2.custody_bit_0_indices) | set(op.attestation_2.custody_bit_1_indices))
        return all(int(i) < len(state.validators) and state.validators[int(i)].slashed for i in both)
    return False
