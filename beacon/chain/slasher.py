"""Detecting slashable behaviour in what the node sees (the "slasher").

Fed with blocks the chain imported (their proposer), the attestations inside them, and gossip
attestations whose signature was verified, it remembers what each validator signed and builds
the operation that slashes a conflict, as the v0.8.2 state transition defines it:

* proposals: two different block headers of one proposer in one epoch
  (`process_proposer_slashing`);
* attestations: `is_slashable_attestation_data`, a double vote (same target epoch, other
  data) or a surround vote (either direction) (`process_attester_slashing`).

Only messages whose signature someone checked are fed in, so what it builds verifies; the
caller still runs the spec's processing function on a head state before using it (the
validator may already be slashed, or exited).

The attestation store is compact, in numpy arrays indexed [epoch mod window, validator]:

* spans, over `span_epochs` (default 4096) epochs: `min` holds, per validator and epoch e, the
  smallest target among its votes with source > e, `max` the largest target among its votes
  with source < e (both as a distance from e, uint16). A vote (s, t) surrounds an earlier one
  iff min[s] < t, and is surrounded by one iff max[s] > t: one lookup per validator, whatever
  the history. Both are monotone in e, so recording a vote rewrites only the epochs whose value
  it changes (one column for an honest vote). 4 bytes per validator and epoch.
* records, over `record_epochs` (default 64) epochs: per validator and target epoch, the id of
  the first attestation that carried its vote (uint32), and those attestations (one record
  shared by all the validators it names, kept only if some validator's slot refers to it: its
  indices as a numpy array, its data and signature as bytes; about 1.3 KB for 293 validators). Double votes are found within this window; a surround vote
  is found within the span window but built only if the earlier attestation is still kept
  (otherwise it is counted in `unbuilt` and logged, and the validator is reported).

Memory is fixed by the windows and the highest validator index seen: (4 x span_epochs +
4 x record_epochs) bytes per validator, plus the attestation records of `record_epochs`.
A vote whose target is older than the span window is ignored; one whose source is older is
checked from the window's oldest epoch; one whose source is after its target (which only a
broken or malicious signer makes) is checked for double votes only.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Iterable, Optional

import numpy as np

from beacon.ssz import decode
from beacon.state import StateTransitionError, get_indexed_attestation, is_slashable_attestation_data

log = logging.getLogger(__name__)

SPAN_EPOCHS = 4096
RECORD_EPOCHS = 64
_NO_MIN = 0xFFFF  # min span of an epoch with no vote of higher source
_FIRST_BLOCK = 1  # epochs rewritten per step of a min-span update; grows 8x per step
SEEN_AGGREGATES = 16384  # aggregates remembered so a block's copy of a gossip one is not judged again


class _Record:
    """An IndexedAttestation kept compact (its indices in numpy, its data and signature as
    bytes: about a fifth of the container's size), rebuilt when a slashing needs it."""

    __slots__ = ("root", "target", "data", "signature", "bit_0", "bit_1")

    def __init__(self, root: bytes, target: int, indexed: Any, bit_0: Optional[Any] = None) -> None:
        self.root, self.target = root, target
        self.data, self.signature = indexed.data.serialize(), bytes(indexed.signature)
        # bit_0: the custody bit 0 indices already as an array (sorted, unique), if at hand
        self.bit_0 = (bit_0 if bit_0 is not None else np.array(indexed.custody_bit_0_indices, dtype=np.int64)
                      ).astype(np.uint32)
        self.bit_1 = np.array(indexed.custody_bit_1_indices, dtype=np.int64).astype(np.uint32)

    def indexed(self, types: Any) -> Any:
        return types.IndexedAttestation(custody_bit_0_indices=self.bit_0.tolist(),
                                        custody_bit_1_indices=self.bit_1.tolist(),
                                        data=decode(types.AttestationData, self.data), signature=self.signature)


class Slasher:
    def __init__(self, types: Any, config: Any, span_epochs: int = SPAN_EPOCHS,
                 record_epochs: int = RECORD_EPOCHS) -> None:
        if not 2 <= span_epochs < _NO_MIN:
            raise ValueError(f"slasher span window must be 2..{_NO_MIN - 1} epochs, not {span_epochs}")
        if not 1 <= record_epochs:
            raise ValueError(f"slasher record window must be at least 1 epoch, not {record_epochs}")
        self.types = types
        self.config = config
        self.span_epochs = span_epochs
        self.record_epochs = min(record_epochs, span_epochs)
        self._cap = 0  # validators the arrays have room for (grown on demand)
        self._min = np.full((span_epochs, 0), _NO_MIN, dtype=np.uint16)
        self._max = np.zeros((span_epochs, 0), dtype=np.uint16)
        self._ids = np.zeros((self.record_epochs, 0), dtype=np.uint32)
        self._reported = np.zeros(0, dtype=bool)  # attester reported: one slashing each is enough
        self._records: dict[int, _Record] = {}  # attestation id -> the attestation, compact
        self._records_by_target: dict[int, list[int]] = {}
        self._next_id = 1
        # proposer -> epoch -> (signing root, signed header), over the record window
        self._proposals: dict[int, dict[int, tuple[bytes, Any]]] = {}
        self._reported_proposers: set[int] = set()
        self._newest_epoch = 0
        self.unbuilt = 0  # conflicts found whose earlier attestation was no longer kept
        self._seen: OrderedDict[bytes, None] = OrderedDict()  # data root + aggregation bits

    def __len__(self) -> int:
        """Messages kept whole: attestation records and proposals."""
        return len(self._records) + sum(len(p) for p in self._proposals.values())

    def nbytes(self) -> int:
        """Bytes of the arrays (the attestation objects not counted)."""
        return self._min.nbytes + self._max.nbytes + self._ids.nbytes + self._reported.nbytes

    # --- proposals -------------------------------------------------------------------------
    def on_block(self, block: Any, proposer_index: int) -> Optional[Any]:
        """A signed block by `proposer_index`; the ProposerSlashing it proves, if any."""
        epoch = int(block.slot) // self.config.SLOTS_PER_EPOCH
        self._advance(epoch)
        if epoch <= self._newest_epoch - self.record_epochs:
            return None
        header = self.types.BeaconBlockHeader(slot=block.slot, parent_root=block.parent_root,
                                              state_root=block.state_root, body_root=block.body.hash_tree_root(),
                                              signature=block.signature)
        root = header.signing_root()
        seen = self._proposals.setdefault(proposer_index, {})
        earlier = seen.get(epoch)
        if earlier is None:
            seen[epoch] = (root, header)
            return None
        if earlier[0] == root or proposer_index in self._reported_proposers:
            return None
        self._reported_proposers.add(proposer_index)
        return self.types.ProposerSlashing(proposer_index=proposer_index, header_1=earlier[1].copy(),
                                           header_2=header)

    # --- attestations ----------------------------------------------------------------------
    def on_attestation(self, attestation: Any, indexed: Any) -> list[Any]:
        """A gossip Attestation whose signature verified, with its IndexedAttestation: as
        `on_indexed_attestation`, and remembered so its copy in a block is skipped."""
        if not self._first_sight(attestation):
            return []
        return self.on_indexed_attestation(indexed)

    def on_block_attestations(self, state: Any, attestations: Iterable[Any]) -> list[Any]:
        """The attestations of an imported block (the state transition verified their
        signatures). `state` is the block's post-state: its committees for the previous and
        current epoch are the pre-state's, the only epochs a block's attestations may name."""
        found: list[Any] = []
        for att in attestations:
            if int(att.data.target.epoch) <= self._newest_epoch - self.span_epochs or not self._first_sight(att):
                continue  # too old to judge (range sync of old history), or judged from gossip
            try:
                indexed = get_indexed_attestation(state, att)
            except (AssertionError, IndexError, ValueError, StateTransitionError) as e:
                log.debug("slasher: block attestation without its committee: %s", e)
                continue
            found += self.on_indexed_attestation(indexed)
        return found

    def _first_sight(self, att: Any) -> bool:
        bits = np.packbits(np.fromiter(att.aggregation_bits, dtype=bool, count=len(att.aggregation_bits)))
        key = att.data.hash_tree_root() + bits.tobytes() + len(att.aggregation_bits).to_bytes(2, "little")
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > SEEN_AGGREGATES:
            self._seen.popitem(last=False)
        return True

    def on_indexed_attestation(self, indexed: Any) -> list[Any]:
        """A verified IndexedAttestation; the AttesterSlashings it proves (one per conflicting
        earlier attestation, a validator reported once)."""
        data = indexed.data
        source, target = int(data.source.epoch), int(data.target.epoch)
        self._advance(target)
        newest, span_w, rec_w = self._newest_epoch, self.span_epochs, self.record_epochs
        if target <= newest - span_w:
            return []
        bit_0, bit_1 = indexed.custody_bit_0_indices, indexed.custody_bit_1_indices
        idx = np.array(bit_0, dtype=np.int64) if len(bit_0) else np.zeros(0, dtype=np.int64)
        if len(bit_1):
            idx = np.concatenate([idx, np.array(bit_1, dtype=np.int64)])
        if idx.size > 1 and not (np.diff(idx) > 0).all():  # verified ones are sorted, unique per bit
            idx = np.unique(idx)
        if idx.size == 0:
            return []
        self._grow(int(idx[-1]) + 1)
        root = data.hash_tree_root()
        floor = max(0, newest - span_w + 1)  # oldest epoch the spans cover
        recorded = target > newest - rec_w
        found = self._conflicts(indexed, idx, source, target, root, floor, recorded)
        # record the vote: its id where the validator has none for this target, then the spans
        if recorded:
            row = target % rec_w
            empty = idx[self._ids[row, idx] == 0]
            if empty.size:
                aid = self._next_id
                self._next_id += 1
                self._ids[row, empty] = aid
                self._records[aid] = _Record(root, target, indexed, idx if not len(bit_1) else None)
                self._records_by_target.setdefault(target, []).append(aid)
        if source <= target:  # no honest client signs a source after its target: left out of the spans
            self._update_min(idx, source, target, floor)
        lo, hi = max(source + 1, floor), target - 1
        if hi >= lo:
            epochs = np.arange(lo, hi + 1)
            sel = ((epochs % span_w)[:, None], idx[None, :])
            self._max[sel] = np.maximum(self._max[sel], (target - epochs).astype(np.uint16)[:, None])
        return found

    def _conflicts(self, indexed: Any, idx: Any, source: int, target: int, root: bytes, floor: int,
                   recorded: bool) -> list[Any]:
        live = idx[~self._reported[idx]]
        if live.size == 0:
            return []
        # (attestation id of the other vote, whether the new vote goes first) -> validators
        pairs: dict[tuple[int, bool], list[Any]] = {}
        lost: list[Any] = []
        if recorded:  # double votes: another attestation recorded for this target
            prior = self._ids[target % self.record_epochs, live]
            double = np.zeros(live.size, dtype=bool)
            others = prior[prior != 0]
            for aid in (np.unique(others).tolist() if others.size else ()):
                if self._records[aid].root != root:
                    hit = prior == aid
                    double |= hit
                    pairs[(aid, False)] = [live[hit]]
            live = live[~double]
        if live.size and source <= target:  # surround votes, from the spans at the source epoch
            base = max(source, floor)
            col = base % self.span_epochs
            min_span = self._min[col, live]
            min_target = min_span.astype(np.int64) + base
            outer = (min_span != _NO_MIN) & (min_target < target)  # the new vote surrounds an old one
            max_target = min_target  # unused unless the source is inside the window
            inner = np.zeros(live.size, dtype=bool)
            if source >= floor:
                max_span = self._max[col, live]
                max_target = max_span.astype(np.int64) + source
                inner = (max_span != 0) & (max_target > target) & ~outer  # an old vote surrounds it
            for mask, olds_all, new_first in ((outer, min_target, True), (inner, max_target, False)):
                if not mask.any():
                    continue
                for v, ot in zip(live[mask].tolist(), olds_all[mask].tolist()):
                    aid = int(self._ids[ot % self.record_epochs, v]) if ot > self._newest_epoch - self.record_epochs else 0
                    if aid == 0:
                        lost.append(v)
                    else:
                        pairs.setdefault((aid, new_first), []).append(np.array([v]))
        out: list[Any] = []
        for (aid, new_first), groups in pairs.items():
            vs = np.concatenate(groups)
            other = self._records[aid].indexed(self.types)
            first, second = (indexed, other) if new_first else (other, indexed)
            if not is_slashable_attestation_data(first.data, second.data):
                continue  # not expected: spans and records disagree; build nothing false
            self._reported[vs] = True
            out.append(self.types.AttesterSlashing(attestation_1=first.copy(), attestation_2=second.copy()))
        if lost:
            self._reported[np.array(lost)] = True
            self.unbuilt += len(lost)
            log.warning("slasher: validator %s signed a surround vote whose other attestation is older than "
                        "the %d kept epochs: not built", ",".join(map(str, lost)), self.record_epochs)
        return out

    def _update_min(self, idx: Any, source: int, target: int, floor: int) -> None:
        """min[e] = min(min[e], target) for e < source: stops per validator at the first epoch
        already at or below target (all older ones are then too: min is monotone in e)."""
        hi, rows, step = source - 1, idx, _FIRST_BLOCK
        while hi >= floor and rows.size:
            lo = max(floor, hi - step + 1)
            epochs = np.arange(hi, lo - 1, -1)
            sel = ((epochs % self.span_epochs)[:, None], rows[None, :])
            block = self._min[sel]
            want = (target - epochs).astype(np.uint16)[:, None]
            lower = block > want
            self._min[sel] = np.where(lower, want, block)
            rows = rows[lower[-1]]
            hi, step = lo - 1, step * 8

    # --- memory ------------------------------------------------------------------------------
    def _grow(self, n: int) -> None:
        if n <= self._cap:
            return
        # to a multiple of 1024, with 1/64 to spare once grown: deposits add validators a few
        # at a time, and each growth copies the arrays
        cap = -(-max(n, self._cap + self._cap // 64 if self._cap else 0) // 1024) * 1024

        def wider(a: Any, fill: int) -> Any:
            b = np.full(a.shape[:-1] + (cap,), fill, dtype=a.dtype)
            b[..., :a.shape[-1]] = a
            return b

        self._min, self._max = wider(self._min, _NO_MIN), wider(self._max, 0)
        self._ids, self._reported = wider(self._ids, 0), wider(self._reported, False)
        self._cap = cap

    def _advance(self, epoch: int) -> None:
        """Epochs past the newest reuse the rows of the epochs falling out of the windows."""
        old = self._newest_epoch
        if epoch <= old:
            return
        self._newest_epoch = epoch
        for e in range(max(old + 1, epoch - self.span_epochs + 1), epoch + 1):
            self._min[e % self.span_epochs] = _NO_MIN
            self._max[e % self.span_epochs] = 0
        for e in range(max(old + 1, epoch - self.record_epochs + 1), epoch + 1):
            self._ids[e % self.record_epochs] = 0
        floor = epoch - self.record_epochs + 1
        for t in [t for t in self._records_by_target if t < floor]:
            for aid in self._records_by_target.pop(t):
                del self._records[aid]
        for v in list(self._proposals):
            records = self._proposals[v]
            for e in [e for e in records if e < floor]:
                del records[e]
            if not records:
                del self._proposals[v]
