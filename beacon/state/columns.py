"""The validator registry's fields as read-only numpy columns, cached under the validators root.

Why: the epoch steps each read some fields of every validator (participation, registry
updates, slashings, effective balances, compact committees, active sets). Each pass over the
Validator containers costs 10-30 ns per field and validator in Python; with the columns built
once per registry content, a step reads arrays instead.

Cost: a new entry is built with every column (~0.5 ms per column at 16,384 validators), once
per registry content: usually by the first active-set lookup after a block changed the
registry. The epoch steps' own writes patch it, so with no other registry change an entry
carries over from epoch to epoch.

Soundness: like every StateCache entry, an entry is keyed by content, the validators root
(hash_tree_root(state.validators), cached and updated along changed paths by the SSZ layer).
`columns(state, ...)` computes that root, then fills any column the entry lacks from the asking
state's own validators, which at that moment hash to the key. Steps that write validators
through their fast paths call `patch(state, entry, changed)` afterwards: the entry of the new
root is the old one with the changed rows read again, instead of a full pass.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from beacon.state.cache import get_cache
from beacon.state.shuffle import indices_digest

# Column name -> (dtype, reader of the field over a list of validators). Every uint64 field of
# the spec fits a uint64 column exactly. The readers name the attribute in a comprehension:
# ~2x faster than getattr(v, name) per validator.
FIELDS: dict[str, tuple[Any, Callable[[list[Any]], list[Any]]]] = {
    "effective_balance": (np.uint64, lambda vs: [v.effective_balance for v in vs]),
    "slashed": (bool, lambda vs: [v.slashed for v in vs]),
    "activation_eligibility_epoch": (np.uint64, lambda vs: [v.activation_eligibility_epoch for v in vs]),
    "activation_epoch": (np.uint64, lambda vs: [v.activation_epoch for v in vs]),
    "exit_epoch": (np.uint64, lambda vs: [v.exit_epoch for v in vs]),
    "withdrawable_epoch": (np.uint64, lambda vs: [v.withdrawable_epoch for v in vs]),
}


class RegistryColumns:
    """Columns of one registry content; filled per field on first use, never written after."""

    __slots__ = ("n", "cols", "active")

    def __init__(self, n: int) -> None:
        self.n = n
        self.cols: dict[str, np.ndarray] = {}
        # the last active set computed from these columns: (indices array, tuple, digest)
        self.active: tuple[np.ndarray, tuple[int, ...], bytes] | None = None

    def fill(self, validators: list[Any], name: str) -> np.ndarray:
        col = self.cols.get(name)
        if col is None:
            dtype, read = FIELDS[name]
            col = np.array(read(validators), dtype=dtype)
            col.flags.writeable = False
            self.cols[name] = col
        return col


def entry(state: Any) -> RegistryColumns:
    """The columns entry of the state's registry as it is now (a private one with the caches off)."""
    validators = state.validators
    cache = get_cache(state)
    if cache is None:
        return RegistryColumns(len(validators))
    root = validators.hash_tree_root()
    found = cache.epochs.lookup(root)
    if found is None or found.n != len(validators):
        found = cache.epochs.store(root, RegistryColumns(len(validators)))
        # Every column at once: whoever first asks (usually the committees of a block's
        # attestations, via the active set) pays one build per registry content, and the
        # epoch steps then read and patch it instead of building columns of their own.
        items = validators.items()
        for name in FIELDS:
            found.fill(items, name)
    return found


def columns(state: Any, *names: str) -> tuple[np.ndarray, ...]:
    """The named fields of every validator, as read-only arrays (see the module note)."""
    found = entry(state)
    validators = state.validators.items()
    return tuple(found.fill(validators, name) for name in names)


def patch(state: Any, old: RegistryColumns, changed: Iterable[int]) -> None:
    """Store the entry of the state's registry after writes to the validators at `changed`
    (and nowhere else) since `old` was its entry: `old` with those rows read again."""
    cache = get_cache(state)
    validators = state.validators.items()
    if cache is None or old.n != len(validators):
        return
    rows = np.fromiter(changed, dtype=np.int64)
    if not len(rows) or len(rows) * 2 > old.n:
        return  # nothing to do, or so much that the next lookup's full build is cheaper
    new = RegistryColumns(old.n)
    for name, col in old.cols.items():
        fresh = col.copy()
        fresh[rows] = [getattr(validators[i], name) for i in rows.tolist()]
        fresh.flags.writeable = False
        new.cols[name] = fresh
    cache.epochs.store(state.validators.hash_tree_root(), new)


def active_indices(state: Any, epoch: int) -> tuple[tuple[int, ...], bytes]:
    """get_active_validator_indices(state, epoch) as a tuple, with its content digest
    (shuffle.indices_digest). Consecutive epochs of one registry mostly have the same active
    set (an epoch transition asks for the next epoch and the one ACTIVATION_EXIT_DELAY later):
    an equal set reuses the tuple and digest already made."""
    found = entry(state)
    activation, exit_ = found.fill(state.validators.items(), "activation_epoch"), found.fill(
        state.validators.items(), "exit_epoch")
    # is_active_validator: activation_epoch <= epoch < exit_epoch (epochs are uint64)
    active = np.flatnonzero((activation <= epoch) & (exit_ > epoch))
    last = found.active
    if last is not None and np.array_equal(last[0], active):
        return last[1], last[2]
    indices = tuple(active.tolist())
    digest = indices_digest(active)
    found.active = (active, indices, digest)
    return indices, digest
