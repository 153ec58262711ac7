"""Once-per-epoch participation: who attested to what, derived one time from the pending attestations.

Why: the spec re-derives attesting sets from the attestation lists in every epoch step
(justification, crosslinks, rewards), tests membership per validator, and for the inclusion
reward scans all attestations once per attester: quadratic at 16,384 validators. Here each
pending attestation is expanded to its attesting indices exactly once (committees come from the
state's committee cache) and everything the steps need is read off numpy arrays.

What an EpochParticipation holds (for one state object at one slot):
  per validator (arrays of length n): effective balance (uint64), slashed, active in the current
  epoch, eligible for the previous epoch's rewards/penalties (the spec's eligible_validator_indices),
  and the class of its effective balance (validators with equal effective balances get equal base
  rewards, so the exact integer arithmetic runs once per distinct value: at most 33 in practice);
  per epoch (EpochAttesters, previous and current, built on first use): each attestation's
  attesting indices; the unslashed source/target/head attester masks; for the inclusion reward,
  the attestation of each attester's earliest inclusion (ties: the first in list order, as the
  spec's min()); the crosslink candidates of every shard, grouped by crosslink in first-occurrence
  order, with their unslashed attesting indices and balance.

What it deliberately does not hold: anything the epoch steps change. The crosslink winner of a
shard depends on state.current_crosslinks[shard], which process_crosslinks rewrites and
get_crosslink_deltas reads afterwards; it is chosen live from the grouped candidates each time.
The finalized checkpoint (written by justification, read by rewards) is read from the state.

Validity: a participation belongs to one state object and is used only inside
`participation_scope(state)`. process_epoch holds one scope over justification, crosslinks and
rewards, none of which change its inputs (validators, pending attestations, block roots,
committees); a spec function called on its own opens its own scope (an O(n) build).
"""
from __future__ import annotations

import contextlib
import contextvars
from functools import cached_property
from typing import Any, Iterator

import numpy as np

from beacon.state.accessors import (
    get_block_root, get_block_root_at_slot, get_committee_count, get_crosslink_committee, get_current_epoch,
    get_previous_epoch, get_start_shard,
)
from beacon.state.columns import columns as registry_columns
from beacon.state.epoch.helpers import get_matching_source_attestations
from beacon.state.math import integer_squareroot
from beacon.state.misc import compute_start_slot_of_epoch

_EMPTY = np.zeros(0, dtype=np.int64)


class CrosslinkCandidate:
    """One distinct crosslink voted for in one epoch, with the attestations voting for it."""

    __slots__ = ("crosslink", "root", "parts", "_part", "_indices", "_balance")

    def __init__(self, part: "EpochParticipation", crosslink: Any, root: bytes) -> None:
        self._part = part
        self.crosslink = crosslink  # the first attestation's object: the one the spec's max() returns
        self.root = root
        self.parts: list[np.ndarray] = []
        self._indices: np.ndarray | None = None
        self._balance = 0

    @property
    def indices(self) -> np.ndarray:
        """get_unslashed_attesting_indices of the attestations voting for this crosslink (distinct)."""
        if self._indices is None:
            if len(self.parts) == 1:
                joined = self.parts[0]  # one attestation: committee members, already distinct
            else:
                joined = np.unique(np.concatenate(self.parts)) if self.parts else _EMPTY
            self._indices = joined[~self._part.slashed[joined]]
            self._balance = self._part.total_of(self._indices)
        return self._indices

    @property
    def balance(self) -> int:
        """get_attesting_balance of those attestations (get_total_balance: at least 1)."""
        self.indices  # noqa: B018 - computes both
        return self._balance


class EpochAttesters:
    """The pending attestations of one epoch (get_matching_source_attestations), expanded once."""

    def __init__(self, part: "EpochParticipation", epoch: int) -> None:
        self.part = part
        self.epoch = epoch
        # The spec helper picks the list (and asserts the epoch is the previous or current one).
        self.attestations: list[Any] = list(get_matching_source_attestations(part.state, epoch))
        per_att = [part.attesting_indices(a.data, a.aggregation_bits) for a in self.attestations]
        self.per_att = per_att
        if per_att:
            self.all_idx = np.concatenate(per_att)
            self.att_of = np.repeat(np.arange(len(per_att), dtype=np.int64), [len(x) for x in per_att])
        else:
            self.all_idx = _EMPTY
            self.att_of = _EMPTY
        source = np.zeros(part.n, dtype=bool)
        source[self.all_idx] = True
        self.unslashed_source = source & ~part.slashed

    def _unslashed_of(self, matching: np.ndarray) -> np.ndarray:
        """Mask of the unslashed validators attesting in the attestations flagged by `matching`."""
        mask = np.zeros(self.part.n, dtype=bool)
        if len(self.all_idx):
            mask[self.all_idx[matching[self.att_of]]] = True
        return mask & ~self.part.slashed

    @cached_property
    def unslashed_target(self) -> np.ndarray:
        atts = self.attestations
        if not atts:  # the spec evaluates get_block_root only per attestation
            return np.zeros(self.part.n, dtype=bool)
        root = get_block_root(self.part.state, self.epoch)
        return self._unslashed_of(np.fromiter((a.data.target.root == root for a in atts), bool, len(atts)))

    @cached_property
    def unslashed_head(self) -> np.ndarray:
        state = self.part.state
        cfg = state.config
        shard_count, slots_per_epoch = cfg.SHARD_COUNT, cfg.SLOTS_PER_EPOCH
        slots: dict[tuple[int, int], int] = {}  # get_attestation_data_slot reads only these two
        layouts: dict[int, tuple[int, int, int]] = {}
        roots: dict[int, bytes] = {}
        matching = np.zeros(len(self.attestations), dtype=bool)
        for j, a in enumerate(self.attestations):
            epoch = a.data.target.epoch
            shard = a.data.crosslink.shard
            key = (epoch, shard)
            slot = slots.get(key)
            if slot is None:
                # get_attestation_data_slot(state, a.data), with the committee count and start
                # shard of the target epoch read once per epoch instead of once per shard
                layout = layouts.get(epoch)
                if layout is None:
                    layout = layouts[epoch] = (compute_start_slot_of_epoch(epoch, cfg=cfg),
                                               get_start_shard(state, epoch),
                                               get_committee_count(state, epoch) // slots_per_epoch)
                start_slot, start_shard, committees_per_slot = layout
                slot = slots[key] = start_slot + (shard + shard_count - start_shard) % shard_count // committees_per_slot
            root = roots.get(slot)
            if root is None:
                root = roots[slot] = get_block_root_at_slot(state, slot)
            matching[j] = a.data.beacon_block_root == root
        return self._unslashed_of(matching)

    @cached_property
    def earliest_inclusion(self) -> np.ndarray:
        """Per validator, the list position of the attestation that includes it with the smallest
        inclusion delay, the first such in list order (the spec's min()); -1 if none."""
        chosen = np.full(self.part.n, -1, dtype=np.int64)
        if not len(self.all_idx):
            return chosen
        # The usual case: each validator is included once, so its one attestation is the answer.
        seen = np.zeros(self.part.n, dtype=bool)
        seen[self.all_idx] = True
        if int(np.count_nonzero(seen)) == len(self.all_idx):
            chosen[self.all_idx] = self.att_of
            return chosen
        delays = np.array([a.inclusion_delay for a in self.attestations], dtype=np.uint64)
        # Sort by validator, then delay, then list position; keep the first row of each validator.
        order = np.lexsort((self.att_of, delays[self.att_of], self.all_idx))
        idx = self.all_idx[order]
        first = np.ones(len(idx), dtype=bool)
        first[1:] = idx[1:] != idx[:-1]
        chosen[idx[first]] = self.att_of[order][first]
        return chosen

    @cached_property
    def candidates(self) -> dict[int, dict[bytes, CrosslinkCandidate]]:
        """shard -> crosslink root -> candidate, in first-occurrence order."""
        out: dict[int, dict[bytes, CrosslinkCandidate]] = {}
        for a, idx in zip(self.attestations, self.per_att):
            crosslink = a.data.crosslink
            group = out.setdefault(crosslink.shard, {})
            root = crosslink.hash_tree_root()  # equal containers <=> equal roots
            cand = group.get(root)
            if cand is None:
                cand = group[root] = CrosslinkCandidate(self.part, crosslink, root)
            cand.parts.append(idx)
        return out

    def winning_crosslink(self, shard: int) -> tuple[Any, np.ndarray, int]:
        """get_winning_crosslink_and_attesting_indices(state, epoch, shard) against the state's
        current crosslinks as they are now: (crosslink, unslashed attesting indices, their balance)."""
        state = self.part.state
        group = self.candidates.get(shard, {})
        current_root = state.current_crosslinks[shard].hash_tree_root()
        best: CrosslinkCandidate | None = None
        best_key: tuple[int, bytes] | None = None
        for root, cand in group.items():
            c = cand.crosslink
            if current_root == c.parent_root or current_root == root:
                key = (cand.balance, c.data_root)
                if best_key is None or key > best_key:  # strict: the first of equal keys wins, as max()
                    best, best_key = cand, key
        if best is not None:
            return best.crosslink, best.indices, best.balance
        default = state.types.Crosslink()
        # The spec then collects the attestations equal to Crosslink() (normally there are none).
        cand = group.get(default.hash_tree_root())
        if cand is None:
            return default, _EMPTY, 1
        return default, cand.indices, cand.balance


class EpochParticipation:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.slot = state.slot
        self.current_epoch = get_current_epoch(state)
        self.previous_epoch = get_previous_epoch(state)
        self.n = n = len(state.validators)
        # The registry's fields as read-only arrays, shared with the later epoch steps.
        self.eb, self.slashed, activation, exit_, withdrawable = registry_columns(
            state, "effective_balance", "slashed", "activation_epoch", "exit_epoch", "withdrawable_epoch")
        # uint64 sums are exact when even the sum of all effective balances fits.
        self._sum_in_uint64 = (int(self.eb.max()) if n else 0) * max(n, 1) < 2**64
        cur, prev = self.current_epoch, self.previous_epoch
        self.active_current = (activation <= cur) & (cur < exit_)
        active_previous = (activation <= prev) & (prev < exit_)
        self.eligible = active_previous | (self.slashed & (prev + 1 < withdrawable))
        self.total_active_balance = self.total_of(np.flatnonzero(self.active_current))
        self._committees: dict[tuple[int, int], np.ndarray] = {}
        self._committee_totals: dict[tuple[int, int], int] = {}
        self._epochs: dict[int, EpochAttesters] = {}

    # --- building blocks ------------------------------------------------------------------
    def total_of(self, indices: np.ndarray) -> int:
        """get_total_balance for distinct indices: max(1, sum of their effective balances)."""
        if self._sum_in_uint64:
            total = int(self.eb[indices].sum(dtype=np.uint64))
        else:
            total = sum(self.eb[indices].tolist())
        return max(1, total)

    def committee(self, epoch: int, shard: int) -> np.ndarray:
        key = (epoch, shard)
        committee = self._committees.get(key)
        if committee is None:
            committee = np.asarray(get_crosslink_committee(self.state, epoch, shard), dtype=np.int64)
            self._committees[key] = committee
        return committee

    def committee_total(self, epoch: int, shard: int) -> int:
        """get_total_balance of a crosslink committee (duplicate-free), once per epoch and shard:
        process_crosslinks and get_crosslink_deltas both ask for it."""
        key = (epoch, shard)
        total = self._committee_totals.get(key)
        if total is None:
            total = self._committee_totals[key] = self.total_of(self.committee(epoch, shard))
        return total

    def attesting_indices(self, data: Any, bits: Any) -> np.ndarray:
        """get_attesting_indices as an index array: the committee members whose bit is set."""
        committee = self.committee(data.target.epoch, data.crosslink.shard)
        k = len(committee)
        items = bits.items()
        if len(items) < k:  # the spec's bits[i] would be out of range
            raise IndexError(f"aggregation bits ({len(items)}) shorter than the committee ({k})")
        return committee[np.fromiter(items[:k], dtype=bool, count=k)]

    def for_epoch(self, epoch: int) -> EpochAttesters:
        attesters = self._epochs.get(epoch)
        if attesters is None:
            attesters = self._epochs[epoch] = EpochAttesters(self, epoch)
        return attesters

    @cached_property
    def base_reward_classes(self) -> tuple[np.ndarray, list[int], list[int]]:
        """(class of each validator, effective balance of each class, base reward of each class).

        get_base_reward with Python ints, once per distinct effective balance."""
        cfg = self.state.config
        values, inverse = np.unique(self.eb, return_inverse=True)
        balances = [int(v) for v in values.tolist()]
        sqrt = integer_squareroot(self.total_active_balance)
        rewards = [b * cfg.BASE_REWARD_FACTOR // sqrt // cfg.BASE_REWARDS_PER_EPOCH for b in balances]
        return inverse.astype(np.int64).reshape(-1), balances, rewards


_SCOPE: contextvars.ContextVar[EpochParticipation | None] = contextvars.ContextVar(
    "pybeacon_epoch_participation", default=None)


@contextlib.contextmanager
def participation_scope(state: Any) -> Iterator[EpochParticipation]:
    """The participation of `state`: the enclosing scope's if it is for this state, else a new one."""
    active = _SCOPE.get()
    if active is not None and active.state is state and active.slot == state.slot:
        yield active
        return
    part = EpochParticipation(state)
    token = _SCOPE.set(part)
    try:
        yield part
    finally:
        _SCOPE.reset(token)
