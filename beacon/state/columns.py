"""The validator registry's fields as read-only numpy columns, cached under the validators root.

Why: the epoch steps each read some fields of every validator (participation, registry
updates, slashings, effective balances, compact committees, active sets). Each pass over the
Validator containers costs 10-30 ns per field and validator in Python; with the columns built
once per registry content, a step reads arrays instead.

Soundness: like every StateCache entry, an entry is keyed by content, the validators root
(hash_tree_root(state.validators), cached and updated along changed paths by the SSZ layer).
`columns(state, ...)` computes that root, then fills any column the entry lacks from the asking
state's own validators, which at that moment hash to the key. Steps that write validators
through their fast paths call `patch(state, entry, changed)` afterwards: the entry of the new
root is the old one with the changed rows read again, instead of a full pass.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from beacon.state.cache import get_cache

# Column name -> dtype; every uint64 field of the spec fits a uint64 column exactly.
FIELDS: dict[str, Any] = {
    "effective_balance": np.uint64,
    "slashed": bool,
    "activation_eligibility_epoch": np.uint64,
    "activation_epoch": np.uint64,
    "exit_epoch": np.uint64,
    "withdrawable_epoch": np.uint64,
}


class RegistryColumns:
    """Columns of one registry content; filled per field on first use, never written after."""

    __slots__ = ("n", "cols")

    def __init__(self, n: int) -> None:
        self.n = n
        self.cols: dict[str, np.ndarray] = {}

    def fill(self, validators: list[Any], name: str) -> np.ndarray:
        col = self.cols.get(name)
        if col is None:
            dtype = FIELDS[name]
            col = np.array([getattr(v, name) for v in validators], dtype=dtype)
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
    if not len(rows):
        return
    new = RegistryColumns(old.n)
    for name, col in old.cols.items():
        fresh = col.copy()
        fresh[rows] = [getattr(validators[i], name) for i in rows.tolist()]
        fresh.flags.writeable = False
        new.cols[name] = fresh
    cache.epochs.store(state.validators.hash_tree_root(), new)
