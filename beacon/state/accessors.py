"""Beacon state accessors (0_beacon-chain.md v0.8.2, "Helper functions / Beacon state accessors").

Each keeps the spec's name and signature; the epoch caches (cache.py) sit behind
get_active_validator_indices, get_crosslink_committee, get_beacon_proposer_index,
get_total_active_balance and get_compact_committees_root.
"""
from __future__ import annotations

from itertools import compress
from typing import Any, Iterable, Sequence

from beacon.crypto.hash import hash
from beacon.state import cache as _cache
from beacon.state.cache import ActiveSet, EpochView, get_cache
from beacon.state.columns import active_indices
from beacon.state.columns import columns as registry_columns
from beacon.state.math import int_to_bytes
from beacon.state.misc import (
    GENESIS_EPOCH, compute_committee, compute_domain, compute_epoch_of_slot, compute_shuffled_index,
    compute_start_slot_of_epoch,
)
from beacon.state.predicates import is_active_validator
from beacon.state.roots import compact_committees_root


# spec v0.8.2: Beacon state accessors / get_current_epoch
def get_current_epoch(state: Any) -> int:
    """Return the current epoch."""
    return compute_epoch_of_slot(state.slot, cfg=state.config)


# spec v0.8.2: Beacon state accessors / get_previous_epoch
def get_previous_epoch(state: Any) -> int:
    """Return the previous epoch (unless the current epoch is ``GENESIS_EPOCH``)."""
    current_epoch = get_current_epoch(state)
    return GENESIS_EPOCH if current_epoch == GENESIS_EPOCH else current_epoch - 1


# spec v0.8.2: Beacon state accessors / get_block_root
def get_block_root(state: Any, epoch: int) -> bytes:
    """Return the block root at the start of a recent ``epoch``."""
    return get_block_root_at_slot(state, compute_start_slot_of_epoch(epoch, cfg=state.config))


# spec v0.8.2: Beacon state accessors / get_block_root_at_slot
def get_block_root_at_slot(state: Any, slot: int) -> bytes:
    """Return the block root at a recent ``slot``."""
    n = state.config.SLOTS_PER_HISTORICAL_ROOT
    assert slot < state.slot <= slot + n
    return state.block_roots[slot % n]


# spec v0.8.2: Beacon state accessors / get_randao_mix
def get_randao_mix(state: Any, epoch: int) -> bytes:
    """Return the randao mix at a recent ``epoch``."""
    return state.randao_mixes[epoch % state.config.EPOCHS_PER_HISTORICAL_VECTOR]


def get_active_set(state: Any, epoch: int) -> ActiveSet:
    """get_active_validator_indices with the content digest of the indices (b"" when the
    caches are off), for roots memoized by content."""
    return _active_set(state, epoch)


def _active_set(state: Any, epoch: int) -> ActiveSet:
    """The active indices of ``epoch`` with their content digest, cached by validators root."""
    cache = get_cache(state)
    if cache is None:
        indices = tuple(i for i, v in enumerate(state.validators) if is_active_validator(v, epoch))
        return ActiveSet(indices, b"")
    root = state.validators.hash_tree_root()
    key = (epoch, root)
    found = cache.active.lookup(key)
    if found is None:
        indices, digest = active_indices(state, epoch)  # from the registry's columns
        found = cache.active.store(key, ActiveSet(indices, digest))
    return found


# spec v0.8.2: Beacon state accessors / get_active_validator_indices
def get_active_validator_indices(state: Any, epoch: int) -> Sequence[int]:
    """Return the sequence of active validator indices at ``epoch`` (an immutable tuple)."""
    return _active_set(state, epoch).indices


# spec v0.8.2: Beacon state accessors / get_validator_churn_limit
def get_validator_churn_limit(state: Any) -> int:
    """Return the validator churn limit for the current epoch."""
    cfg = state.config
    active_validator_indices = get_active_validator_indices(state, get_current_epoch(state))
    return max(cfg.MIN_PER_EPOCH_CHURN_LIMIT, len(active_validator_indices) // cfg.CHURN_LIMIT_QUOTIENT)


# spec v0.8.2: Beacon state accessors / get_seed
def get_seed(state: Any, epoch: int) -> bytes:
    """Return the seed at ``epoch``."""
    cfg = state.config
    mix = get_randao_mix(state, epoch + cfg.EPOCHS_PER_HISTORICAL_VECTOR - cfg.MIN_SEED_LOOKAHEAD - 1)  # Avoid underflow
    active_index_root = state.active_index_roots[epoch % cfg.EPOCHS_PER_HISTORICAL_VECTOR]
    return hash(mix + active_index_root + int_to_bytes(epoch, length=32))


# spec v0.8.2: Beacon state accessors / get_committee_count
def get_committee_count(state: Any, epoch: int) -> int:
    """Return the number of committees at ``epoch``."""
    cfg = state.config
    committees_per_slot = max(1, min(
        cfg.SHARD_COUNT // cfg.SLOTS_PER_EPOCH,
        len(get_active_validator_indices(state, epoch)) // cfg.SLOTS_PER_EPOCH // cfg.TARGET_COMMITTEE_SIZE,
    ))
    return committees_per_slot * cfg.SLOTS_PER_EPOCH


def _epoch_view(state: Any, epoch: int) -> EpochView | None:
    """Everything committee-shaped about ``epoch``, cached under the inputs it is made of."""
    cache = get_cache(state)
    if cache is None:
        return None
    cfg = state.config
    n = cfg.EPOCHS_PER_HISTORICAL_VECTOR
    current = get_current_epoch(state)
    key = (
        epoch, current, state.start_shard, state.validators.hash_tree_root(),
        state.randao_mixes[(epoch + n - cfg.MIN_SEED_LOOKAHEAD - 1) % n],  # what get_seed reads
        state.active_index_roots[epoch % n],
    )
    view = cache.views.lookup(key)
    if view is None:
        view = cache.views.store(key, EpochView(
            seed=get_seed(state, epoch),
            active=_active_set(state, epoch),
            committee_count=get_committee_count(state, epoch),
            start_shard=get_start_shard(state, epoch),
        ))
    return view


# spec v0.8.2: Beacon state accessors / get_crosslink_committee
def get_crosslink_committee(state: Any, epoch: int, shard: int) -> Sequence[int]:
    """Return the crosslink committee at ``epoch`` for ``shard`` (an immutable tuple)."""
    cfg = state.config
    view = _epoch_view(state, epoch)
    if view is None:
        return tuple(_spec_compute_committee(
            indices=get_active_validator_indices(state, epoch),
            seed=get_seed(state, epoch),
            index=(shard + cfg.SHARD_COUNT - get_start_shard(state, epoch)) % cfg.SHARD_COUNT,
            count=get_committee_count(state, epoch),
            cfg=cfg,
        ))
    committee = view.committees.get(shard)
    if committee is None:
        committee = tuple(compute_committee(
            indices=view.active.indices,
            seed=view.seed,
            index=(shard + cfg.SHARD_COUNT - view.start_shard) % cfg.SHARD_COUNT,
            count=view.committee_count,
            cfg=cfg,
            digest=view.active.digest,
        ))
        view.committees[shard] = committee
    return committee


def _spec_compute_committee(indices: Sequence[int], seed: bytes, index: int, count: int, *, cfg: Any) -> list[int]:
    """compute_committee exactly as the spec writes it (SPEC_MODE: the caches' reference)."""
    start = (len(indices) * index) // count
    end = (len(indices) * (index + 1)) // count
    return [indices[compute_shuffled_index(i, len(indices), seed, cfg=cfg)] for i in range(start, end)]


# spec v0.8.2: Beacon state accessors / get_start_shard
def get_start_shard(state: Any, epoch: int) -> int:
    """Return the start shard of the 0th committee at ``epoch``."""
    cfg = state.config
    assert epoch <= get_current_epoch(state) + 1
    check_epoch = get_current_epoch(state) + 1
    shard = (state.start_shard + get_shard_delta(state, get_current_epoch(state))) % cfg.SHARD_COUNT
    while check_epoch > epoch:
        check_epoch -= 1
        shard = (shard + cfg.SHARD_COUNT - get_shard_delta(state, check_epoch)) % cfg.SHARD_COUNT
    return shard


# spec v0.8.2: Beacon state accessors / get_shard_delta
def get_shard_delta(state: Any, epoch: int) -> int:
    """Return the number of shards to increment ``state.start_shard`` at ``epoch``."""
    cfg = state.config
    return min(get_committee_count(state, epoch), cfg.SHARD_COUNT - cfg.SHARD_COUNT // cfg.SLOTS_PER_EPOCH)


# spec v0.8.2: Beacon state accessors / get_beacon_proposer_index
def get_beacon_proposer_index(state: Any) -> int:
    """Return the beacon proposer index at the current slot (cached per slot in the epoch view)."""
    epoch = get_current_epoch(state)
    view = _epoch_view(state, epoch)
    if view is not None:
        found = view.proposers.get(state.slot)
        if found is not None:
            return found
    cfg = state.config
    committees_per_slot = get_committee_count(state, epoch) // cfg.SLOTS_PER_EPOCH
    offset = committees_per_slot * (state.slot % cfg.SLOTS_PER_EPOCH)
    shard = (get_start_shard(state, epoch) + offset) % cfg.SHARD_COUNT
    first_committee = get_crosslink_committee(state, epoch, shard)
    MAX_RANDOM_BYTE = 2**8 - 1
    seed = get_seed(state, epoch)
    validators = state.validators
    i = 0
    while True:
        candidate_index = first_committee[(epoch + i) % len(first_committee)]
        random_byte = hash(seed + int_to_bytes(i // 32, length=8))[i % 32]
        effective_balance = validators[candidate_index].effective_balance
        if effective_balance * MAX_RANDOM_BYTE >= cfg.MAX_EFFECTIVE_BALANCE * random_byte:
            if view is not None:
                view.proposers[state.slot] = candidate_index
            return candidate_index
        i += 1


def get_beacon_proposer_index_at_slot(state: Any, slot: int) -> int:
    """Not in the spec: get_beacon_proposer_index as of `slot`, from a state of the same chain
    whose current epoch is `slot`'s. v0.8.2's proposer reads only epoch-level data (the slot's
    first committee, the epoch's seed, effective balances, which blocks do not change), so
    any such state answers; from the epoch view's cache when the transition already asked."""
    epoch = compute_epoch_of_slot(slot, cfg=state.config)
    if epoch != get_current_epoch(state):
        raise ValueError(f"slot {slot} is not in the state's epoch {get_current_epoch(state)}")
    if state.slot == slot:
        return get_beacon_proposer_index(state)
    view = _epoch_view(state, epoch)
    if view is not None and slot in view.proposers:
        return view.proposers[slot]
    at_slot = state.copy()
    at_slot.slot = slot
    return get_beacon_proposer_index(at_slot)


# spec v0.8.2: Beacon state accessors / get_attestation_data_slot
def get_attestation_data_slot(state: Any, data: Any) -> int:
    """Return the slot corresponding to the attestation ``data``."""
    cfg = state.config
    epoch = data.target.epoch
    # The epoch view of an epoch near the current one (what a block's attestations target)
    # holds both: one lookup instead of walking the shard deltas back, per attestation.
    current = get_current_epoch(state)
    view = _epoch_view(state, epoch) if current - 1 <= epoch <= current + 1 else None
    if view is not None:
        committee_count, start_shard = view.committee_count, view.start_shard
    else:
        committee_count, start_shard = get_committee_count(state, epoch), get_start_shard(state, epoch)
    offset = (data.crosslink.shard + cfg.SHARD_COUNT - start_shard) % cfg.SHARD_COUNT
    return compute_start_slot_of_epoch(epoch, cfg=cfg) + offset // (committee_count // cfg.SLOTS_PER_EPOCH)


# spec v0.8.2: Beacon state accessors / get_compact_committees_root
def get_compact_committees_root(state: Any, epoch: int) -> bytes:
    """Return the compact committee root at ``epoch`` (cached in the epoch view)."""
    view = _epoch_view(state, epoch)
    if view is not None and view.compact_committees_root is not None:
        return view.compact_committees_root
    start_shard = get_start_shard(state, epoch)
    shard_count = state.config.SHARD_COUNT
    committees = []
    for committee_number in range(get_committee_count(state, epoch)):
        shard = (start_shard + committee_number) % shard_count
        committees.append((shard, get_crosslink_committee(state, epoch, shard)))
    # The CompactCommittee values are merkleized from plain data (roots.py says how).
    effective, slashed = registry_columns(state, "effective_balance", "slashed")
    root = compact_committees_root(state.config, state.validators.items(), committees, effective, slashed)
    if view is not None:
        view.compact_committees_root = root
    return root


# spec v0.8.2: Beacon state accessors / get_total_balance
def get_total_balance(state: Any, indices: Iterable[int]) -> int:
    """Return the combined effective balance of the ``indices``. (1 Gwei minimum to avoid divisions by zero.)"""
    validators = state.validators.items()  # the plain list: no per-item Sequence overhead
    return max(1, sum([validators[index].effective_balance for index in indices]))


# spec v0.8.2: Beacon state accessors / get_total_active_balance
def get_total_active_balance(state: Any) -> int:
    """Return the combined effective balance of the active validators (cached per epoch and registry)."""
    if _cache.SPEC_MODE:
        return get_total_balance(state, set(get_active_validator_indices(state, get_current_epoch(state))))
    active = _active_set(state, get_current_epoch(state))
    if active.total_balance is None:
        active.total_balance = get_total_balance(state, active.indices)
    return active.total_balance


# spec v0.8.2: Beacon state accessors / get_domain
def get_domain(state: Any, domain_type: bytes, message_epoch: int | None = None) -> bytes:
    """Return the signature domain (fork version concatenated with domain type) of a message."""
    epoch = get_current_epoch(state) if message_epoch is None else message_epoch
    fork_version = state.fork.previous_version if epoch < state.fork.epoch else state.fork.current_version
    return compute_domain(domain_type, fork_version)


# spec v0.8.2: Beacon state accessors / get_indexed_attestation
def get_indexed_attestation(state: Any, attestation: Any) -> Any:
    """Return the indexed attestation corresponding to ``attestation``."""
    attesting_indices = get_attesting_indices(state, attestation.data, attestation.aggregation_bits)
    custody_bit_1_indices = get_attesting_indices(state, attestation.data, attestation.custody_bits)
    assert custody_bit_1_indices.issubset(attesting_indices)
    custody_bit_0_indices = attesting_indices.difference(custody_bit_1_indices)

    return state.types.IndexedAttestation(
        custody_bit_0_indices=sorted(custody_bit_0_indices),
        custody_bit_1_indices=sorted(custody_bit_1_indices),
        data=attestation.data,
        signature=attestation.signature,
    )


# spec v0.8.2: Beacon state accessors / get_attesting_indices
def get_attesting_indices(state: Any, data: Any, bits: Any) -> set[int]:
    """Return the set of attesting indices corresponding to ``data`` and ``bits``."""
    committee = get_crosslink_committee(state, data.target.epoch, data.crosslink.shard)
    # The spec reads bits[i] for every committee member: fewer bits is an out-of-range access.
    if len(bits) < len(committee):
        raise IndexError(f"{len(bits)} bits for a committee of {len(committee)}")
    return set(compress(committee, bits))
