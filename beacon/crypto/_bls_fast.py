"""Fast BLS backend: group arithmetic and pairings from py_arkworks_bls12381 (Rust).

Only the v0.8.2-specific part, the hash_to_G2 loop, is ours (see _bls_common); the
library's own hash_to_curve is the later IETF construction and is never used here.
milagro_bls_binding was measured for key derivation and aggregation and was not faster
(see benchmarks/bls.py), so it is not used.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence, Tuple

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from beacon.crypto._bls_common import (
    A_FLAG,
    C_FLAG,
    G2_COFACTOR,
    BLSError,
    Fq2Int,
    check_hash_inputs,
    hash_to_G2_lift,
    parse_g1,
    parse_g2,
)

# The library reduces scalars mod r, which is wrong for the pre-cofactor hash point (it is
# not in the r-torsion), so the 507-bit cofactor is applied as h = d1 * 2^254 + d0 with
# both digits and 2^254 below r. Plain double-and-add on a non-subgroup point is correct
# (checked against the msg_hash vectors); multiexp_unchecked was measured slower here.
_COF_SHIFT = Scalar(1 << 254)
_COF_HI = Scalar(G2_COFACTOR >> 254)
_COF_LO = Scalar(G2_COFACTOR & ((1 << 254) - 1))


def _lift(x: Fq2Int) -> Optional[G2Point]:
    """(x, preferred y) via the library's decompression: a_flag = 1 selects the root with
    the larger imaginary part (then real part), which is the spec's modular_squareroot
    choice; an error means x^3 + 4(i + 1) has no square root."""
    data = (C_FLAG | A_FLAG | x[1]).to_bytes(48, "big") + x[0].to_bytes(48, "big")
    try:
        return G2Point.from_compressed_bytes_unchecked(data)
    except ValueError:
        return None


def _hash_to_g2(message_hash: bytes, domain: bytes) -> G2Point:
    p = hash_to_G2_lift(message_hash, domain, _lift)
    return p * _COF_HI * _COF_SHIFT + p * _COF_LO


def _decode_g1(data: bytes) -> G1Point:
    if parse_g1(data).infinity:  # spec flag/canonicity rules first, for every backend alike
        return G1Point.identity()
    try:
        return G1Point.from_compressed_bytes(bytes(data))  # on-curve + subgroup checks
    except ValueError as e:
        raise BLSError(f"invalid G1 point: {e}") from None


def _decode_g2(data: bytes) -> G2Point:
    if parse_g2(data).infinity:
        return G2Point.identity()
    try:
        return G2Point.from_compressed_bytes(bytes(data))
    except ValueError as e:
        raise BLSError(f"invalid G2 point: {e}") from None


class FastBackend:
    name = "fast"

    def __init__(self, pubkey_cache_size: int, hash_cache_size: int) -> None:
        # Per-instance bounded LRUs: the same validator keys and attestation messages are
        # verified over and over. Exceptions are not cached by lru_cache.
        self._g1_cached = lru_cache(maxsize=pubkey_cache_size)(_decode_g1)
        self._hash_cached = lru_cache(maxsize=hash_cache_size)(_hash_to_g2)
        self._neg_g = -G1Point()

    def decode_g1(self, data: bytes) -> G1Point:
        if not isinstance(data, bytes):
            if not isinstance(data, bytearray):
                parse_g1(data)  # raises the BLSError (unhashable junk must not reach the LRU)
            data = bytes(data)
        return self._g1_cached(data)

    def decode_g2(self, data: bytes) -> G2Point:
        return _decode_g2(data)

    def encode_g1(self, point: G1Point) -> bytes:
        return bytes(point.to_compressed_bytes())

    def encode_g2(self, point: G2Point) -> bytes:
        return bytes(point.to_compressed_bytes())

    def g1_sum(self, points: Sequence[G1Point]) -> G1Point:
        acc = G1Point.identity()
        for p in points:
            acc = acc + p
        return acc

    def g2_sum(self, points: Sequence[G2Point]) -> G2Point:
        acc = G2Point.identity()
        for p in points:
            acc = acc + p
        return acc

    def g1_mul(self, point: G1Point, scalar: int) -> G1Point:
        return point * Scalar(scalar)

    def g2_lincomb(self, points: Sequence[G2Point], scalars: Sequence[int]) -> G2Point:
        if not points:
            return G2Point.identity()
        if len(points) == 1:  # plain multiplication measured faster than a 1-point multiexp
            return points[0] * Scalar(scalars[0])
        return G2Point.multiexp_unchecked(list(points), [Scalar(s) for s in scalars])

    def g1_generator_mul(self, scalar: int) -> G1Point:
        return G1Point() * Scalar(scalar)

    def neg_g1_generator(self) -> G1Point:
        return self._neg_g

    def hash_to_g2(self, message_hash: bytes, domain: bytes) -> G2Point:
        return self._hash_cached(*check_hash_inputs(message_hash, domain))

    def g2_projective(self, point: G2Point) -> Tuple[Fq2Int, Fq2Int, Fq2Int]:
        if point == G2Point.identity():
            return (0, 0), (1, 0), (0, 0)
        raw = point.to_xy_bytes_be()  # x.c0 || x.c1 || y.c0 || y.c1, affine
        c = [int.from_bytes(raw[i : i + 48], "big") for i in range(0, 192, 48)]
        return (c[0], c[1]), (c[2], c[3]), (1, 0)

    def pairing_check(self, g1s: Sequence[G1Point], g2s: Sequence[G2Point]) -> bool:
        return bool(GT.pairing_check(list(g1s), list(g2s)))

    def clear_caches(self) -> None:
        self._g1_cached.cache_clear()
        self._hash_cached.cache_clear()
