"""Whole-list swap-or-not shuffling: every round applied to the whole list at once.

compute_shuffled_index (misc.py) follows one index through all SHUFFLE_ROUND_COUNT rounds;
committees need it for every member, which is rounds * n hash-and-branch steps in Python.
Here each round is one vectorised step over all positions (numpy), and a round's random
bits come from n/256 hashes instead of one hash per member.

Derivation (so a reader can check it against the spec): round r maps a position x to
f_r(x) = flip if bit(max(x, flip)) else x, with flip = (pivot_r - x) mod n, and
compute_shuffled_index(i) = f_{R-1}(...f_0(i)). The spec's committee is
indices[compute_shuffled_index(i)] for i in a range. Let L_R = indices and
L_r[x] = L_{r+1}[f_r(x)]; unrolling gives L_0[i] = indices[f_{R-1}(...f_0(i))]. So applying
the rounds from R-1 down to 0 as list permutations yields shuffled[i] = indices[p(i)],
and every committee is a slice of `shuffled`.
"""
from __future__ import annotations

from collections import OrderedDict
from hashlib import sha256
from typing import Sequence

import numpy as np

from beacon.crypto.hash import hash

try:  # the optional C hasher (see beacon/state/roots.py)
    from beacon.state._hashlayer import hash_counted as _hash_counted
except ImportError:
    _hash_counted = None

# Enough for previous/current/next epoch of a few forks; a 16k-validator entry is ~130 KB.
_MAX_ENTRIES = 32
_shuffles: "OrderedDict[tuple[bytes, bytes, int], list[int]]" = OrderedDict()


def _round_bits(seed: bytes, round_byte: bytes, n: int, suffixes: list[bytes] | None = None) -> np.ndarray:
    """bit(position) for positions 0..n-1 of one round, as the spec computes it per position.

    `suffixes`: int_to_bytes(k, 4) for every block k of the round, if the caller has them (the
    same for every round)."""
    prefix = seed + round_byte
    # hash(seed + round_byte + int_to_bytes(position // 256, 4)) for every block: a shuffle of
    # 16,384 indices makes 64 of these per round, 90 rounds on mainnet. In C when it was built
    # (beacon/state/_hashlayer.c, ~3x cheaper a hash), else sha256 called directly.
    if _hash_counted is not None:
        source = _hash_counted(prefix, (n + 255) // 256)
    else:
        if suffixes is None:
            suffixes = _block_suffixes(n)
        source = b"".join([sha256(prefix + k).digest() for k in suffixes])
    # byte (pos % 256) // 8 of block pos // 256, bit pos % 8: little-endian bit order overall.
    # unpackbits gives 0/1 bytes, which are valid booleans as they are.
    return np.unpackbits(np.frombuffer(source, dtype=np.uint8), bitorder="little")[:n].view(bool)


def _block_suffixes(n: int) -> list[bytes]:
    return [k.to_bytes(4, "little") for k in range((n + 255) // 256)]


def shuffle_list(indices: Sequence[int], seed: bytes, rounds: int) -> list[int]:
    """[indices[compute_shuffled_index(i, len(indices), seed)] for i in range(len(indices))]."""
    n = len(indices)
    if n <= 1:
        return list(indices)
    values = np.asarray(indices, dtype=np.uint64)
    if int(values.max()) < 2**32:
        values = values.astype(np.uint32)  # half the memory traffic per round
    ones = np.array(-1).astype(values.dtype)  # all bits set: the select mask of a swap
    suffixes = _block_suffixes(n)
    for r in range(rounds - 1, -1, -1):
        round_byte = r.to_bytes(1, "little")
        pivot = int.from_bytes(hash(seed + round_byte)[0:8], "little") % n
        values = _apply_round(values, pivot, _round_bits(seed, round_byte, n, suffixes), ones)
    return values.tolist()


def _apply_round(values: np.ndarray, pivot: int, bits: np.ndarray, ones: np.ndarray) -> np.ndarray:
    """One round as a permutation of the whole list: L_r[x] = L_{r+1}[f_r(x)].

    flip(x) = (pivot - x) mod n reverses [0, pivot] and, separately, [pivot + 1, n - 1], so
    values[flip] is two reversed slices, and x and flip(x) always fall in the same segment,
    mirrored: bit(max(x, flip(x))) is the segment's bits with its lower half replaced by the
    mirrored upper half. Slices and copies only, no index arithmetic over n, and the select is
    bitwise (np.where over a random mask was 6x slower at 300,000 validators).
    """
    n = len(values)
    flipped = np.concatenate((values[pivot::-1], values[:pivot:-1]))
    swap = np.empty(n, dtype=bool)
    for lo, hi in ((0, pivot + 1), (pivot + 1, n)):
        seg = bits[lo:hi]
        out = swap[lo:hi]
        out[:] = seg
        half = (hi - lo) // 2
        out[:half] = seg[::-1][:half]
    mask = swap.astype(values.dtype)
    mask *= ones
    flipped ^= values  # values ^ ((flipped ^ values) & mask): flipped where swap, else values
    flipped &= mask
    flipped ^= values
    return flipped


def shuffled_index_mapping(index_count: int, seed: bytes, rounds: int) -> list[int]:
    """[compute_shuffled_index(i, index_count, seed) for i in range(index_count)]."""
    return shuffle_list(range(index_count), seed, rounds)


def indices_digest(indices: Sequence[int]) -> bytes:
    """A content key for an index list (sha256 of its uint64 little-endian packing)."""
    return hash(np.asarray(indices, dtype="<u8").tobytes())


def get_shuffled(indices: Sequence[int], seed: bytes, rounds: int, digest: bytes | None = None) -> list[int]:
    """shuffle_list, memoized by content (seed, digest of indices, rounds); callers must not mutate."""
    if digest is None:
        digest = indices_digest(indices)
    key = (seed, digest, rounds)
    found = _shuffles.get(key)
    if found is not None:
        _shuffles.move_to_end(key)
        return found
    result = shuffle_list(indices, seed, rounds)
    _shuffles[key] = result
    if len(_shuffles) > _MAX_ENTRIES:
        _shuffles.popitem(last=False)
    return result


def clear() -> None:
    _shuffles.clear()
