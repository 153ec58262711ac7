"""Roots the epoch transition writes, computed straight from plain data (no SSZ values built).

`process_final_updates` stores two roots per epoch: the active index root (a
List[ValidatorIndex, VALIDATOR_REGISTRY_LIMIT]) and the compact committees root (a
Vector[CompactCommittee, SHARD_COUNT]). Building those SSZ values element by element cost
~80 ms at 16,384 validators; here the leaves are packed with numpy and merkleized directly,
with the same chunking and padding as the SSZ layer, so the roots are the same bytes
(tests/state/test_roots.py checks them against the SSZ values). Pubkey roots are kept for
the last registry seen and reused while it is a prefix of the registry asked about.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from itertools import chain
from hashlib import sha256
from typing import Any, Sequence

import numpy as np

from beacon.config import Config
from beacon.ssz.merkle import ZERO_HASHES, depth_for, merkleize, mix_in_length, use_hash_layer

_PUBKEY_PAD = b"\x00" * 16  # a 48-byte vector is two chunks, the second right-padded

try:  # beacon/state/_hashlayer.c, built at install where a compiler and OpenSSL's headers are
    from beacon.state._hashlayer import hash_layer as _native_hash_layer
except ImportError:
    _native_hash_layer = None

# Whether Merkle layers are hashed in C (~0.12 us a hash) or with hashlib (~0.41 us): same roots.
NATIVE_HASHING = _native_hash_layer is not None


def python_hash_layer(data: bytes) -> bytes:
    """SHA-256 of every 64-byte piece of `data`, concatenated, with hashlib (bytes slices: cheaper
    than memoryview slices for 64-byte inputs, ~0.41 against ~0.5 us a hash)."""
    if len(data) % 64:
        raise ValueError(f"hash_layer: {len(data)} bytes is not a whole number of 64-byte pairs")
    h = sha256
    return b"".join([h(data[i:i + 64]).digest() for i in range(0, len(data), 64)])


# One Merkle layer: the C form when it was built, else hashlib.
hash_layer = _native_hash_layer if _native_hash_layer is not None else python_hash_layer
if _native_hash_layer is not None:  # the SSZ layer's bulk merkleization (a decoded registry) too
    use_hash_layer(_native_hash_layer)


def pubkey_root(pubkey: bytes) -> bytes:
    """hash_tree_root of a BLSPubkey (Bytes48)."""
    return sha256(pubkey + _PUBKEY_PAD).digest()


class _PubkeyRoots:
    """The pubkey roots of the last registry seen, reused while it is a prefix of the next.

    Registries only grow (deposits append), so one entry serves every later epoch of a chain;
    the prefix check compares the pubkeys themselves (list equality, which for the same
    bytes objects is an identity test per element), so a different registry (another fork,
    another state) can never be served stale roots: it is recomputed.
    """

    def __init__(self) -> None:
        self.pubkeys: list[bytes] = []
        self.roots = np.zeros((0, 32), dtype=np.uint8)
        self.lock = threading.Lock()  # states may be transitioned in worker threads

    def get(self, pubkeys: list[bytes]) -> np.ndarray:
        with self.lock:
            return self._get(pubkeys)

    def _get(self, pubkeys: list[bytes]) -> np.ndarray:
        k = len(self.pubkeys)
        if not (k <= len(pubkeys) and pubkeys[:k] == self.pubkeys):
            k = 0
            self.roots = self.roots[:0]
        if k < len(pubkeys):
            fresh = hash_layer(_PUBKEY_PAD.join(pubkeys[k:]) + _PUBKEY_PAD)  # each pubkey's two chunks
            self.roots = np.concatenate((self.roots, np.frombuffer(fresh, dtype=np.uint8).reshape(-1, 32)))
        self.pubkeys = pubkeys
        return self.roots


_PUBKEY_ROOTS = _PubkeyRoots()


def merkleize_buffer(data: bytes, depth: int) -> bytes:
    """merkleize(pack(data), 2**depth) for `data` of whole 32-byte chunks, hashing each layer
    as one contiguous buffer (no per-chunk bytes objects; ~25% faster than merkleize)."""
    if not data:
        return ZERO_HASHES[depth]
    h = sha256
    for d in range(depth):
        if len(data) == 32:
            node = data
            for dd in range(d, depth):
                node = h(node + ZERO_HASHES[dd]).digest()
            return node
        if len(data) % 64:
            data += ZERO_HASHES[d]
        data = hash_layer(data)
    if len(data) != 32:
        raise ValueError(f"merkleize_buffer: {len(data) // 32} chunks exceed 2**{depth}")
    return data


def uint64_list_root(values: Any, limit: int) -> bytes:
    """hash_tree_root of List[uint64, limit] holding `values` (an int sequence or array)."""
    data = np.asarray(values, dtype="<u8").tobytes()
    if len(data) % 32:
        data += b"\x00" * (32 - len(data) % 32)
    depth = depth_for((limit * 8 + 31) // 32)
    return mix_in_length(merkleize_buffer(data, depth), len(values))


_INDEX_ROOTS: dict[tuple[int, bytes], bytes] = {}


def active_index_root(cfg: Config, indices: Sequence[int], digest: bytes) -> bytes:
    """hash_tree_root(List[ValidatorIndex, VALIDATOR_REGISTRY_LIMIT](indices)).

    `digest` is the content key of `indices` (shuffle.indices_digest); the active set rarely
    changes from one epoch to the next, so the root is memoized under it (a few entries).
    """
    key = (cfg.VALIDATOR_REGISTRY_LIMIT, digest)
    root = _INDEX_ROOTS.get(key) if digest else None
    if root is None:
        root = uint64_list_root(indices, cfg.VALIDATOR_REGISTRY_LIMIT)
        if digest:
            if len(_INDEX_ROOTS) >= 16:
                _INDEX_ROOTS.pop(next(iter(_INDEX_ROOTS)))
            _INDEX_ROOTS[key] = root
    return root


@lru_cache(maxsize=None)
def _committee_depths(cfg: Config) -> tuple[int, int, bytes]:
    """(depth of the pubkeys list, depth of the compact_validators list, root of an empty
    CompactCommittee) for this preset."""
    limit = cfg.MAX_VALIDATORS_PER_COMMITTEE
    pk_depth = depth_for(limit)
    cv_depth = depth_for((limit * 8 + 31) // 32)
    empty = merkleize([mix_in_length(ZERO_HASHES[pk_depth], 0), mix_in_length(ZERO_HASHES[cv_depth], 0)])
    return pk_depth, cv_depth, empty


def compact_committees_root(
    cfg: Config, validators: Sequence[Any], committees: Sequence[tuple[int, Sequence[int]]],
    effective: np.ndarray | None = None, slashed: np.ndarray | None = None,
) -> bytes:
    """hash_tree_root of Vector[CompactCommittee, SHARD_COUNT] with `committees` as
    (shard, validator indices) and every other shard's committee empty (the spec's
    get_compact_committees_root once the committees are known). `effective` and `slashed`:
    the validators' fields as arrays, if the caller has them (beacon.state.columns)."""
    pk_depth, cv_depth, empty = _committee_depths(cfg)
    increment = cfg.EFFECTIVE_BALANCE_INCREMENT
    shard_roots = [empty] * cfg.SHARD_COUNT
    filled: dict[int, list[int]] = {}
    for shard, committee in committees:
        filled.setdefault(shard, []).extend(committee)
    n = len(validators)
    if not filled or not n:
        return merkleize_buffer(b"".join(shard_roots), depth_for(cfg.SHARD_COUNT))
    # Three passes in index order over the registry, then committees are gathers from arrays.
    # Rows of 32 bytes as single void items: a gather copies whole rows.
    pk_roots = _PUBKEY_ROOTS.get([v.pubkey for v in validators]).view("V32").reshape(-1)
    if effective is None:
        effective = np.array([v.effective_balance for v in validators], dtype=np.uint64)
    if slashed is None:
        slashed = np.array([v.slashed for v in validators], dtype=bool)
    compact_balance = effective // np.uint64(increment)  # exact: uint64 floor division
    slashed_bit = slashed.astype(np.uint64) << np.uint64(15)
    # Every member of every committee in one array, so the gathers and the packing are a few
    # array operations for the whole epoch; the trees are then hashed committee by committee.
    shards = list(filled)
    sizes = [len(filled[shard]) for shard in shards]
    idx = np.fromiter(chain.from_iterable(filled[shard] for shard in shards), dtype=np.int64, count=sum(sizes))
    pubkey_leaves = pk_roots[idx].tobytes()
    # `index` (top 6 bytes) + `slashed` (16th bit) + `compact_balance` (bottom 15 bits): the
    # spec adds Python ints; index < 2**40 and compact_balance < 2**64 / increment <= 2**56
    # keep the uint64 sum exact (smaller increments take the Python-int path).
    if increment >= 256:
        compact = (idx.astype(np.uint64) << np.uint64(16)) + slashed_bit[idx] + compact_balance[idx]
    else:
        compact = [(i << 16) + (int(b) << 15) + int(c)
                   for i, b, c in zip(idx.tolist(), slashed_bit[idx] >> np.uint64(15), compact_balance[idx])]
    compact_leaves = np.asarray(compact, dtype="<u8").tobytes()
    start = 0
    for shard, size in zip(shards, sizes):
        end = start + size
        pubkeys_root = mix_in_length(merkleize_buffer(pubkey_leaves[32 * start:32 * end], pk_depth), size)
        packed = compact_leaves[8 * start:8 * end]
        if len(packed) % 32:
            packed += b"\x00" * (32 - len(packed) % 32)
        compact_root = mix_in_length(merkleize_buffer(packed, cv_depth), size)
        shard_roots[shard] = merkleize([pubkeys_root, compact_root])
        start = end
    return merkleize_buffer(b"".join(shard_roots), depth_for(cfg.SHARD_COUNT))
