"""Epoch caches behind the spec accessors: invisible to results, keyed by content.

Where they live: `state._cache` holds a StateCache. `state.copy()` shares that object by
reference, so nothing in it may depend on which state asks; everything is keyed by content:

* active sets:   (epoch, hash_tree_root(state.validators)) -> indices (tuple), their digest,
                 and (for the current epoch) the total active balance; built from the
                 registry's activation/exit epoch columns (columns.py), kept under the validators root. The validators root is
                 cached by the SSZ layer and recomputed along the changed paths only, and the
                 state root needs it every slot anyway, so the key costs little.
* epoch views:   (epoch, current epoch, state.start_shard, validators root, the randao mix and
                 the active index root that get_seed(epoch) reads) -> seed, committee count,
                 start shard, committees by shard, proposer by slot, compact committees root.
                 Those inputs are everything get_crosslink_committee / get_beacon_proposer_index
                 / get_compact_committees_root read, so equal keys give equal answers.
* shuffles:      in shuffle.py, keyed by (seed, digest of the index list, rounds), shared by
                 every state (a pure function of its key).
* committee keys: (validators root, committee) -> the members' pubkeys, as a set and the
                 largest index: what is_valid_indexed_attestation reads for every attestation
                 of a committee (a block of 128 attestations read 16,384 pubkeys).
* pubkey index:  pubkey -> validator index for process_deposit. This one is per state: a map
                 built by scanning a state's own validators, extended as validators are
                 appended. It belongs to the state that built it (`owner`); a copy that shares
                 the StateCache object gets a fresh one of its own on first use (forks may
                 append different validators at the same index). Spec code never changes an
                 existing validator's pubkey, which is what makes extending by appends sound.

`SPEC_MODE` (tests only) turns every cache off and makes committees use the spec's
per-member compute_shuffled_index, so tests can check that the caches change nothing.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Hashable

from beacon.state import shuffle

_MAX_ACTIVE_SETS = 16
_MAX_EPOCH_VIEWS = 16
_MAX_COMMITTEE_KEYS = 2048  # two epochs of committees at SHARD_COUNT 1024

SPEC_MODE = False


def set_spec_mode(flag: bool) -> None:
    """Tests only: True turns every cache off and uses the spec's slow shuffling."""
    global SPEC_MODE
    SPEC_MODE = bool(flag)
    shuffle.clear()


@dataclass
class ActiveSet:
    indices: tuple[int, ...]
    digest: bytes
    total_balance: int | None = None  # get_total_active_balance when this is the current epoch


@dataclass
class EpochView:
    seed: bytes
    active: ActiveSet
    committee_count: int
    start_shard: int
    committees: dict[int, tuple[int, ...]] = field(default_factory=dict)  # by shard
    proposers: dict[int, int] = field(default_factory=dict)  # by slot
    compact_committees_root: bytes | None = None


@dataclass(frozen=True)
class CommitteeKeys:
    pubkeys: tuple[bytes, ...]  # in committee order
    members: frozenset[int]
    max_index: int


class _LRU(OrderedDict):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def lookup(self, key: Hashable) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def store(self, key: Hashable, value: Any) -> Any:
        self[key] = value
        if len(self) > self.limit:
            self.popitem(last=False)
        return value


class PubkeyIndex:
    """pubkey -> first index, for one state's validators[0:covered]."""

    __slots__ = ("owner", "index", "covered")

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.index: dict[bytes, int] = {}
        self.covered = 0

    def lookup(self, validators: Any, pubkey: bytes) -> int | None:
        n = len(validators)
        if n < self.covered:  # the list shrank: never happens in the spec, rebuild to be safe
            self.index.clear()
            self.covered = 0
        if self.covered < n:
            index = self.index
            for i, v in enumerate(validators[self.covered:n], start=self.covered):
                index.setdefault(v.pubkey, i)
            self.covered = n
        return self.index.get(pubkey)


class StateCache:
    __slots__ = ("active", "views", "pubkeys", "epochs", "committee_keys")

    def __init__(self) -> None:
        self.active: _LRU = _LRU(_MAX_ACTIVE_SETS)
        self.views: _LRU = _LRU(_MAX_EPOCH_VIEWS)
        self.pubkeys: PubkeyIndex | None = None
        # validators root -> columns.RegistryColumns (the registry's fields as arrays), so
        # the active sets of several epochs and the epoch steps share one pass over it; three:
        # an epoch transition goes through up to three registries (start, after registry
        # updates, after effective balances)
        self.epochs: _LRU = _LRU(3)
        self.committee_keys: _LRU = _LRU(_MAX_COMMITTEE_KEYS)


def get_cache(state: Any) -> StateCache | None:
    """The state's cache (created on first use), or None in SPEC_MODE."""
    if SPEC_MODE:
        return None
    cache = state._cache
    if cache is None:
        cache = StateCache()
        state._cache = cache
    return cache


def pubkey_index(state: Any) -> PubkeyIndex | None:
    """This state's own pubkey map (see the module note on ownership)."""
    cache = get_cache(state)
    if cache is None:
        return None
    own = cache.pubkeys
    if own is None or own.owner is not state:
        # A copy sharing the cache: give it its own StateCache (sharing the content-keyed
        # parts) so the two states' pubkey maps never mix.
        if own is not None:
            fresh = StateCache()
            fresh.active = cache.active
            fresh.views = cache.views
            fresh.epochs = cache.epochs
            fresh.committee_keys = cache.committee_keys
            state._cache = cache = fresh
        own = cache.pubkeys = PubkeyIndex(state)
    return own


def clear_caches(state: Any = None) -> None:
    """Drop every cache (the given state's and the shared shuffles)."""
    if state is not None:
        state._cache = None
    shuffle.clear()


def committee_keys(state: Any, committee: tuple[int, ...]) -> CommitteeKeys | None:
    """The pubkeys of ``committee``'s members (cached by content), or None in SPEC_MODE or if
    an index is past the registry (the caller then takes its plain path, which rejects it)."""
    cache = get_cache(state)
    if cache is None or not committee:
        return None
    key = (state.validators.hash_tree_root(), committee)
    found = cache.committee_keys.lookup(key)
    if found is None:
        validators = state.validators.items()
        top = max(committee)
        if top >= len(validators):
            return None
        found = cache.committee_keys.store(key, CommitteeKeys(
            tuple(validators[i].pubkey for i in committee), frozenset(committee), top))
    return found
