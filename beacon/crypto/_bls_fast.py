"""Fast BLS backend: py_arkworks_bls12381 (Rust) for G2 arithmetic, pyblst (blst, C and
assembly) for G1 and the pairings.

Only the v0.8.2-specific part, the hash_to_G2 loop, is ours (see _bls_common); neither
library's own hash_to_curve is used (both are the later IETF construction).
milagro_bls_binding was measured for key derivation and aggregation and was not faster
(see benchmarks/bls.py), so it is not used.

Why two libraries: blst's Miller loop and final exponentiation are about 1.6x faster than
arkworks' (0.26 ms against 0.41 ms per Miller loop), and its decompression with the subgroup
check is about 2x faster; pyblst, though, has no multi-scalar multiplication and its scalar
multiplication always walks 255 bits, so the G2 side (the cofactor stages, the random
weights of a batch's signatures) stays on arkworks. G1 points (pubkeys, their sums) live in
blst only. A G2 point crosses over by its compressed encoding when it is paired; blst's
decompression checks the subgroup again, and the hash points are converted once (cached).
"""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any, Optional, Sequence, Tuple

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar
from pyblst import BlstP1Element, BlstP2Element, final_verify, miller_loop

from beacon.crypto._bls_common import (
    A_FLAG,
    C_FLAG,
    CURVE_ORDER,
    G2_COFACTOR,
    BLSError,
    Fq2Int,
    check_hash_inputs,
    fq2_mul,
    hash_to_G2_lift,
    parse_g1,
    parse_g2,
    q,
)

# The cofactor product h*P, bit-identical to the spec's multiply_in_G2(P, G2_cofactor), in
# two stages (3x faster than a 507-bit double-and-add; benchmarks/bls.py):
# 1. Budroni-Pintore: Q = [x^2-x-1]P + [x-1]psi(P) + psi^2(2P) lies in G2 for every P on
#    the twist and equals [c]P_r (P_r: P's r-torsion part, c = 4x^2-2x-1 mod r), using two
#    multiplications by the sparse 64-bit |x|.
# 2. h*P = [h]P_r (h kills the rest of the group) = [K]Q with K = h/c mod r; on G2, psi acts
#    as x, so [K]Q = sum k_i (-psi)^i Q with 64-bit digits k_i of K in base |x|: one 4-point
#    multiexp. The library reduces scalars mod r, so stage 1 (P is not in G2) only ever
#    passes |x|, which is below r. tests/test_bls.py checks this against the plain product.
_X_ABS = 0xD201000000010000  # the BLS parameter x is -_X_ABS
_X = -_X_ABS
_K = G2_COFACTOR * pow((_X * _X - _X - 1) + (_X - 1) * _X + 2 * _X * _X, -1, CURVE_ORDER) % CURVE_ORDER
_K_DIGITS = [Scalar(_K // _X_ABS**i % _X_ABS) for i in range(3)] + [Scalar(_K // _X_ABS**3)]
_S_X = Scalar(_X_ABS)


def _fq2_pow(a: Fq2Int, e: int) -> Fq2Int:
    r: Fq2Int = (1, 0)
    while e:
        if e & 1:
            r = fq2_mul(r, a)
        a = fq2_mul(a, a)
        e >>= 1
    return r


def _fq2_inv(a: Fq2Int) -> Fq2Int:
    n_inv = pow((a[0] * a[0] + a[1] * a[1]) % q, q - 2, q)
    return a[0] * n_inv % q, (-a[1]) * n_inv % q


# psi = untwist o Frobenius o twist on y^2 = x^3 + 4(1+i): (x, y) -> (conj(x) cx, conj(y) cy).
_PSI_CX = _fq2_inv(_fq2_pow((1, 1), (q - 1) // 3))
_PSI_CY = _fq2_inv(_fq2_pow((1, 1), (q - 1) // 2))
_G2_ZERO = G2Point.identity()


def _psi(p: G2Point) -> G2Point:
    if p == _G2_ZERO:
        return p
    raw = p.to_xy_bytes_be()  # x.c0 || x.c1 || y.c0 || y.c1
    x0, x1, y0, y1 = (int.from_bytes(raw[i : i + 48], "big") for i in range(0, 192, 48))
    x = fq2_mul((x0, q - x1), _PSI_CX)
    y = fq2_mul((y0, q - y1), _PSI_CY)
    return G2Point.from_xy_bytes_unchecked_be(b"".join(v.to_bytes(48, "big") for v in (*x, *y)))


def _clear_cofactor(p: G2Point) -> G2Point:
    """[G2_cofactor]p for any p on the twist curve (see the comment above)."""
    return _from_bp(_budroni_pintore(p))


def _budroni_pintore(p: G2Point) -> G2Point:
    """Stage 1: [x^2-x-1]p + [x-1]psi(p) + psi^2(2p), in G2; [G2_cofactor]p is [K] of it."""
    xp = -(p * _S_X)  # [x]p
    t2 = _psi(p)
    t3 = _psi(_psi(p + p)) - t2
    return t3 - ((xp + t2) * _S_X) - xp - p


def _from_bp(q1: G2Point) -> G2Point:
    """Stage 2: [K]q1 for q1 in G2."""
    q2 = -_psi(q1)
    q3 = -_psi(q2)
    q4 = -_psi(q3)
    return G2Point.multiexp_unchecked([q1, q2, q3, q4], _K_DIGITS)


# The plain product, as v0.8.2 writes it: the reference for tests/test_bls.py and the
# baseline of benchmarks/bls.py. h = hi * 2^254 + lo with both digits and 2^254 below r.
_COF_HI, _COF_LO, _COF_SHIFT = Scalar(G2_COFACTOR >> 254), Scalar(G2_COFACTOR & ((1 << 254) - 1)), Scalar(1 << 254)


def _clear_cofactor_plain(p: G2Point) -> G2Point:
    return p * _COF_HI * _COF_SHIFT + p * _COF_LO


def _lift(x: Fq2Int) -> Optional[G2Point]:
    """(x, preferred y) via the library's decompression: a_flag = 1 selects the root with
    the larger imaginary part (then real part), which is the spec's modular_squareroot
    choice; an error means x^3 + 4(i + 1) has no square root."""
    data = (C_FLAG | A_FLAG | x[1]).to_bytes(48, "big") + x[0].to_bytes(48, "big")
    try:
        return G2Point.from_compressed_bytes_unchecked(data)
    except ValueError:
        return None


def _pairing_hash(message_hash: bytes, domain: bytes) -> G2Point:
    """hash_to_G2 before stage 2: hash_to_G2 == [K] of this (see Backend.pairing_hash)."""
    return _budroni_pintore(hash_to_G2_lift(message_hash, domain, _lift))


_P1_ZERO = BlstP1Element()  # the identity
_P1_GEN = BlstP1Element.uncompress(bytes(G1Point().to_compressed_bytes()))


def _decode_g1(data: bytes) -> BlstP1Element:
    if parse_g1(data).infinity:  # spec flag/canonicity rules first, for every backend alike
        return _P1_ZERO
    try:
        return BlstP1Element.uncompress(bytes(data))  # on-curve + subgroup checks
    except ValueError as e:
        raise BLSError(f"invalid G1 point: {e}") from None


_P2_ZERO = BlstP2Element()


class _Sig:
    """A decoded signature: blst's point (blst decompresses and subgroup-checks in about half
    arkworks' time), and arkworks' point of the same bytes, made only when G2 arithmetic
    (aggregation, a batch's random weights) needs it."""

    __slots__ = ("blst", "data", "_ark")

    def __init__(self, point: BlstP2Element, data: bytes) -> None:
        self.blst = point
        self.data = data  # canonical: re-encoding the point gives these bytes
        self._ark: Optional[G2Point] = None

    @property
    def ark(self) -> G2Point:
        if self._ark is None:
            # Already checked by blst: on the curve and in G2.
            self._ark = G2Point.identity() if self.blst == _P2_ZERO else G2Point.from_compressed_bytes_unchecked(self.data)
        return self._ark


def _decode_g2(data: bytes) -> _Sig:
    if parse_g2(data).infinity:
        return _Sig(_P2_ZERO, bytes(data))
    try:
        return _Sig(BlstP2Element.uncompress(bytes(data)), bytes(data))  # on-curve + subgroup checks
    except ValueError as e:
        raise BLSError(f"invalid G2 point: {e}") from None


def _ark_g2(point: Any) -> G2Point:
    return point.ark if isinstance(point, _Sig) else point


def _to_blst_g2(point: G2Point) -> BlstP2Element:
    """The same point for blst's pairing (never the identity: callers skip those)."""
    return BlstP2Element.uncompress(bytes(point.to_compressed_bytes()))


def _pairing_check_released(g1s: Sequence[BlstP1Element], g2s: Sequence[Any]) -> bool:
    """pairing_check on arkworks, which releases the GIL for the whole multi-pairing (pyblst
    holds it through each call): off the main thread (range sync's segment check, a split
    batch's second half) the event loop then keeps running beside it. The G1 points cross
    over compressed; blst checked them already."""
    ark1, ark2 = [], []
    for p, q in zip(g1s, g2s):
        if p == _P1_ZERO:
            continue
        ark1.append(G1Point.from_compressed_bytes_unchecked(bytes(p.compress())))
        ark2.append(_ark_g2(q))
    return bool(GT.pairing_check(ark1, ark2)) if ark1 else True


class FastBackend:
    name = "fast"

    def __init__(self, pubkey_cache_size: int, hash_cache_size: int) -> None:
        # Per-instance bounded LRUs: the same validator keys and attestation messages are
        # verified over and over. Exceptions are not cached by lru_cache.
        self._g1_cached = lru_cache(maxsize=pubkey_cache_size)(_decode_g1)
        self._hash_cached = lru_cache(maxsize=hash_cache_size)(_pairing_hash)
        # Decoded signatures (decompression + subgroup check, ~0.15 ms each): an aggregate
        # checked on gossip is checked again when a block includes it.
        self._g2_cached = lru_cache(maxsize=hash_cache_size)(_decode_g2)
        # blst forms of hash points (and of a batch's weighted signature sum), for the pairing.
        self._blst_g2_cached = lru_cache(maxsize=hash_cache_size)(_to_blst_g2)
        self._neg_g = -_P1_GEN
        self._neg_g_scaled = -_P1_GEN.scalar_mul(pow(_K, -1, CURVE_ORDER))

    def decode_g1(self, data: bytes) -> BlstP1Element:
        if not isinstance(data, bytes):
            if not isinstance(data, bytearray):
                parse_g1(data)  # raises the BLSError (unhashable junk must not reach the LRU)
            data = bytes(data)
        return self._g1_cached(data)

    def decode_g2(self, data: bytes) -> _Sig:
        if not isinstance(data, bytes):
            if not isinstance(data, bytearray):
                parse_g2(data)  # raises the BLSError (unhashable junk must not reach the LRU)
            data = bytes(data)
        return self._g2_cached(data)

    def encode_g1(self, point: BlstP1Element) -> bytes:
        return bytes(point.compress())

    def encode_g2(self, point: Any) -> bytes:
        if isinstance(point, _Sig):
            return point.data
        return bytes(point.to_compressed_bytes())

    def g1_sub(self, a: BlstP1Element, b: BlstP1Element) -> BlstP1Element:
        return a + (-b)

    def g1_is_identity(self, point: BlstP1Element) -> bool:
        return point == _P1_ZERO

    def g1_sum(self, points: Sequence[BlstP1Element]) -> BlstP1Element:
        acc = _P1_ZERO
        for p in points:
            acc = acc + p
        return acc

    def g2_sum(self, points: Sequence[_Sig]) -> _Sig:
        acc = _P2_ZERO
        for p in points:
            acc = acc + p.blst
        return _Sig(acc, bytes(acc.compress()))

    def g1_mul(self, point: BlstP1Element, scalar: int) -> BlstP1Element:
        return point.scalar_mul(scalar % CURVE_ORDER)

    def g2_lincomb(self, points: Sequence[Any], scalars: Sequence[int]) -> G2Point:
        """Hash points (arkworks) or decoded signatures; arkworks' multi-scalar multiplication."""
        if not points:
            return G2Point.identity()
        if len(points) == 1:  # plain multiplication measured faster than a 1-point multiexp
            return _ark_g2(points[0]) * Scalar(scalars[0])
        return G2Point.multiexp_unchecked([_ark_g2(p) for p in points], [Scalar(s) for s in scalars])

    def g1_generator_mul(self, scalar: int) -> BlstP1Element:
        return _P1_GEN.scalar_mul(scalar % CURVE_ORDER)

    def neg_g1_generator(self) -> BlstP1Element:
        return self._neg_g

    def hash_to_g2(self, message_hash: bytes, domain: bytes) -> G2Point:
        return _from_bp(self.pairing_hash(message_hash, domain))

    # Verification pairs the stage-1 point with -[1/K]g and so never pays stage 2.
    hash_scale = _K

    def pairing_hash(self, message_hash: bytes, domain: bytes) -> G2Point:
        return self._hash_cached(*check_hash_inputs(message_hash, domain))

    def pairing_neg_generator(self) -> BlstP1Element:
        return self._neg_g_scaled

    def g2_projective(self, point: G2Point) -> Tuple[Fq2Int, Fq2Int, Fq2Int]:
        if point == G2Point.identity():
            return (0, 0), (1, 0), (0, 0)
        raw = point.to_xy_bytes_be()  # x.c0 || x.c1 || y.c0 || y.c1, affine
        c = [int.from_bytes(raw[i : i + 48], "big") for i in range(0, 192, 48)]
        return (c[0], c[1]), (c[2], c[3]), (1, 0)

    def pairing_check(self, g1s: Sequence[BlstP1Element], g2s: Sequence[Any]) -> bool:
        """prod e(g1s[i], g2s[i]) == 1: blst Miller loops, one final exponentiation.

        blst compares two values after the final exponentiation, so the last pair goes to
        the right-hand side with its G1 point negated: e(-P, Q) = e(P, Q)^-1. A pair with an
        identity point is 1 and is left out.
        """
        if threading.current_thread() is not threading.main_thread():
            return _pairing_check_released(g1s, g2s)
        pairs = []
        for p, q in zip(g1s, g2s):
            if isinstance(q, _Sig):
                q = q.blst
                if q == _P2_ZERO:
                    continue
            elif q == _G2_ZERO:
                continue
            if p != _P1_ZERO:
                pairs.append((p, q))
        if not pairs:
            return True
        try:
            return self._blst_product_is_one(pairs)
        except ValueError:
            # blst refused a converted G2 point. Every point here is in G2 (decoded with the
            # subgroup check, or a hash point after stage 1), so this is not expected; verify*
            # must answer False rather than raise, whatever happens.
            return False

    def _blst_product_is_one(self, pairs: Sequence[Tuple[BlstP1Element, Any]]) -> bool:
        cached = self._blst_g2_cached

        def to_blst(q: Any) -> BlstP2Element:
            return q if isinstance(q, BlstP2Element) else cached(q)

        if len(pairs) == 1:  # e(P, Q) == 1 iff e(P, Q) == e(P, Q)^2
            p, q = pairs[0]
            loop = miller_loop(p, to_blst(q))
            return bool(final_verify(loop, loop * loop))
        acc = None
        for p, q in pairs[:-1]:
            loop = miller_loop(p, to_blst(q))
            acc = loop if acc is None else acc * loop
        p, q = pairs[-1]
        return bool(final_verify(acc, miller_loop(-p, to_blst(q))))

    def clear_caches(self) -> None:
        self._g1_cached.cache_clear()
        self._hash_cached.cache_clear()
        self._g2_cached.cache_clear()
        self._blst_g2_cached.cache_clear()
