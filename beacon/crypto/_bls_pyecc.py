"""Pure-Python BLS backend on py_ecc's optimized BLS12-381 field/curve/pairing primitives.

Slow (tens of ms per Miller loop) but dependency-light; used as the reference the fast
backend is tested against. Points are py_ecc homogeneous projective triples (X, Y, Z).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional, Sequence, Tuple

from py_ecc.optimized_bls12_381 import (
    FQ,
    FQ2,
    FQ12,
    G1,
    Z1,
    Z2,
    add,
    curve_order,
    final_exponentiate,
    is_inf,
    multiply,
    neg,
    normalize,
    pairing,
)

from beacon.crypto._bls_common import (
    G1_INFINITY,
    G2_COFACTOR,
    G2_INFINITY,
    BLSError,
    Fq2Int,
    check_hash_inputs,
    encode_g1,
    encode_g2,
    fq2_sqrt,
    g1_y_from_x,
    g2_rhs,
    g2_y_from_x,
    hash_to_G2_lift,
    parse_g1,
    parse_g2,
)

Point = Tuple[Any, Any, Any]


def _lift(x: Fq2Int) -> Optional[Point]:
    y = fq2_sqrt(g2_rhs(x))
    if y is None:
        return None
    return (FQ2(list(x)), FQ2(list(y)), FQ2.one())


def _hash_to_g2(message_hash: bytes, domain: bytes) -> Point:
    # py_ecc's multiply is plain double-and-add over the integer, so the full (non-reduced)
    # cofactor is applied correctly to the non-subgroup point.
    return multiply(hash_to_G2_lift(message_hash, domain, _lift), G2_COFACTOR)


def _in_subgroup(point: Point) -> bool:
    return bool(is_inf(multiply(point, curve_order)))


def _decode_g1(data: bytes) -> Point:
    parsed = parse_g1(data)
    if parsed.infinity:
        return Z1
    y = g1_y_from_x(parsed.x, parsed.a_flag)  # raises if not on the curve
    point = (FQ(parsed.x), FQ(y), FQ.one())
    if not _in_subgroup(point):
        raise BLSError("G1 point not in the prime-order subgroup")
    return point


def _decode_g2(data: bytes) -> Point:
    parsed = parse_g2(data)
    if parsed.infinity:
        return Z2
    y = g2_y_from_x(parsed.x, parsed.a_flag)
    point = (FQ2(list(parsed.x)), FQ2(list(y)), FQ2.one())
    if not _in_subgroup(point):
        raise BLSError("G2 point not in the prime-order subgroup")
    return point


class PyEccBackend:
    name = "py_ecc"

    def __init__(self, pubkey_cache_size: int, hash_cache_size: int) -> None:
        self._g1_cached = lru_cache(maxsize=pubkey_cache_size)(_decode_g1)
        self._hash_cached = lru_cache(maxsize=hash_cache_size)(_hash_to_g2)
        self._neg_g = neg(G1)

    def decode_g1(self, data: bytes) -> Point:
        if not isinstance(data, bytes):
            if not isinstance(data, bytearray):
                parse_g1(data)  # raises the BLSError
            data = bytes(data)
        return self._g1_cached(data)

    def decode_g2(self, data: bytes) -> Point:
        return _decode_g2(data)

    def encode_g1(self, point: Point) -> bytes:
        if is_inf(point):
            return G1_INFINITY
        x, y = normalize(point)
        return encode_g1(int(x), int(y))

    def encode_g2(self, point: Point) -> bytes:
        if is_inf(point):
            return G2_INFINITY
        x, y = normalize(point)
        return encode_g2(_fq2_ints(x), _fq2_ints(y))

    def g1_sub(self, a: Point, b: Point) -> Point:
        return add(a, neg(b))

    def g1_is_identity(self, point: Point) -> bool:
        return bool(is_inf(point))

    def g1_sum(self, points: Sequence[Point]) -> Point:
        acc: Point = Z1
        for p in points:
            acc = add(acc, p)
        return acc

    def g2_sum(self, points: Sequence[Point]) -> Point:
        acc: Point = Z2
        for p in points:
            acc = add(acc, p)
        return acc

    def g1_mul(self, point: Point, scalar: int) -> Point:
        return multiply(point, scalar % curve_order)

    def g2_lincomb(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        return self.g2_sum([multiply(p, s % curve_order) for p, s in zip(points, scalars)])

    def g1_generator_mul(self, scalar: int) -> Point:
        return multiply(G1, scalar % curve_order)

    def neg_g1_generator(self) -> Point:
        return self._neg_g

    def hash_to_g2(self, message_hash: bytes, domain: bytes) -> Point:
        return self._hash_cached(*check_hash_inputs(message_hash, domain))

    hash_scale = 1

    def pairing_hash(self, message_hash: bytes, domain: bytes) -> Point:
        return self.hash_to_g2(message_hash, domain)

    def pairing_neg_generator(self) -> Point:
        return self.neg_g1_generator()

    def g2_projective(self, point: Point) -> Tuple[Fq2Int, Fq2Int, Fq2Int]:
        # py_ecc's own projective coordinates, unnormalised: these are exactly what the
        # msg_hash_uncompressed vectors were generated from.
        x, y, z = point
        return _fq2_ints(x), _fq2_ints(y), _fq2_ints(z)

    def pairing_check(self, g1s: Sequence[Point], g2s: Sequence[Point]) -> bool:
        # One final exponentiation for the whole product of Miller loops.
        acc = FQ12.one()
        for p, q in zip(g1s, g2s):
            acc = acc * pairing(q, p, final_exponentiate=False)
        return bool(final_exponentiate(acc) == FQ12.one())

    def clear_caches(self) -> None:
        self._g1_cached.cache_clear()
        self._hash_cached.cache_clear()


def _fq2_ints(v: Any) -> Fq2Int:
    return int(v.coeffs[0]), int(v.coeffs[1])

