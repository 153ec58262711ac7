"""The slasher as it was before the span store (main 68615c7, beacon/chain/slasher.py), kept as the
naive reference that tests/chain/test_slasher.py checks the span store against: a dict of votes
per validator, a full scan on any vote that is not newer than all earlier ones."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from beacon.state import is_slashable_attestation_data

HISTORY_EPOCHS = 64


@dataclass(frozen=True)
class _Vote:
    source: int
    target: int
    root: bytes  # hash_tree_root(AttestationData)
    indexed: Any  # the IndexedAttestation it came in (shared)


class NaiveSlasher:
    def __init__(self, types: Any, config: Any, history_epochs: int = HISTORY_EPOCHS) -> None:
        self.types = types
        self.config = config
        self.history_epochs = history_epochs
        # proposer -> epoch -> (signing root, signed header)
        self._proposals: dict[int, dict[int, tuple[bytes, Any]]] = {}
        # validator -> target epoch -> vote
        self._votes: dict[int, dict[int, _Vote]] = {}
        # validator -> (highest source, highest target) among its votes (kept on pruning, so at
        # worst too high: then the full scan runs). An honest vote newer than every earlier one
        # with a source no lower than theirs can surround nothing: no scan (the common case).
        self._bounds: dict[int, tuple[int, int]] = {}
        # validators already reported, per kind: one slashing each is enough
        self._reported: set[tuple[str, int]] = set()
        self._newest_epoch = 0

    def __len__(self) -> int:
        return sum(len(p) for p in self._proposals.values()) + sum(len(v) for v in self._votes.values())

    # --- proposals -------------------------------------------------------------------------
    def on_block(self, block: Any, proposer_index: int) -> Optional[Any]:
        """A signed block by `proposer_index`; the ProposerSlashing it proves, if any."""
        epoch = int(block.slot) // self.config.SLOTS_PER_EPOCH
        self._advance(epoch)
        header = self.types.BeaconBlockHeader(slot=block.slot, parent_root=block.parent_root,
                                              state_root=block.state_root, body_root=block.body.hash_tree_root(),
                                              signature=block.signature)
        root = header.signing_root()
        seen = self._proposals.setdefault(proposer_index, {})
        earlier = seen.get(epoch)
        if earlier is None:
            seen[epoch] = (root, header)
            return None
        if earlier[0] == root or ("proposal", proposer_index) in self._reported:
            return None
        self._reported.add(("proposal", proposer_index))
        return self.types.ProposerSlashing(proposer_index=proposer_index, header_1=earlier[1].copy(),
                                           header_2=header)

    # --- attestations ----------------------------------------------------------------------
    def on_indexed_attestation(self, indexed: Any) -> list[Any]:
        """A verified IndexedAttestation; the AttesterSlashings it proves (one per conflicting
        earlier attestation, a validator reported once)."""
        data = indexed.data
        source, target = int(data.source.epoch), int(data.target.epoch)
        self._advance(target)
        if target < self._newest_epoch - self.history_epochs:
            return []
        root = data.hash_tree_root()
        vote = _Vote(source, target, root, indexed)
        found: dict[bytes, Any] = {}  # by the pair's data roots: one slashing per pair
        for v in list(indexed.custody_bit_0_indices) + list(indexed.custody_bit_1_indices):
            v = int(v)
            history = self._votes.setdefault(v, {})
            conflict = None
            bounds = self._bounds.get(v, (-1, -1))
            if ("attestation", v) not in self._reported and not (target > bounds[1] and source >= bounds[0]):
                conflict = self._conflict(history, vote)
            self._bounds[v] = (max(bounds[0], source), max(bounds[1], target))
            if conflict is not None:
                self._reported.add(("attestation", v))
                first, second = conflict
                if first.root + second.root not in found:
                    found[first.root + second.root] = self.types.AttesterSlashing(
                        attestation_1=first.indexed.copy(), attestation_2=second.indexed.copy())
            if target not in history:
                history[target] = vote
        return list(found.values())

    @staticmethod
    def _conflict(history: dict[int, _Vote], vote: _Vote) -> Optional[tuple[_Vote, _Vote]]:
        """(attestation_1, attestation_2) in the order process_attester_slashing wants
        (for a surround vote, the surrounding one first), or None."""
        same = history.get(vote.target)
        if same is not None:
            return (same, vote) if same.root != vote.root else None  # double vote
        for old in history.values():
            if is_slashable_attestation_data(old.indexed.data, vote.indexed.data):
                return old, vote  # the earlier vote surrounds this one
            if is_slashable_attestation_data(vote.indexed.data, old.indexed.data):
                return vote, old  # this vote surrounds an earlier one
        return None

    # --- memory ------------------------------------------------------------------------------
    def _advance(self, epoch: int) -> None:
        if epoch <= self._newest_epoch:
            return
        self._newest_epoch = epoch
        floor = epoch - self.history_epochs
        if floor <= 0:
            return
        for table in (self._proposals, self._votes):
            for v in list(table):
                records = table[v]
                for e in [e for e in records if e < floor]:
                    del records[e]
                if not records:
                    del table[v]
                    if table is self._votes:
                        self._bounds.pop(v, None)
