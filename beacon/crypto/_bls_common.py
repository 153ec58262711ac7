"""Backend-independent BLS12-381 pieces for spec v0.8.2 (specs/bls_signature.md).

Pure-Python integer arithmetic only: the ZCash compressed-encoding rules, square roots in
Fq and Fq2, and the pre-IETF `hash_to_G2` up to (not including) the cofactor
multiplication, which each backend does with its own group arithmetic. Also the Backend
protocol that beacon.crypto.bls drives.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Protocol, Sequence, Tuple, TypeVar

from beacon.crypto.hash import hash as sha256_hash

# Field modulus and G2 cofactor, verbatim from the spec.
q = 4002409555221667393417789825735904156556882819939007885332058136124031650490837864442687629129015664037894272559787
G2_COFACTOR = 305502333931268344200999753193121504214466019254188142667664032982267604182971884026507427359259977847832272839041616661285803823378372096355777062779109
# Prime order of G1 and G2 (the BLS12-381 "r").
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

# G1 generator from the spec (zkcrypto/pairing).
G1_X = 3685416753713387016781088315183077757961620795782546409894578378688607592378376318836054947676345821548104185464507
G1_Y = 1339506544944476473020471379941921221584933875938349620426543736416511423956333506472724655353366534992391756441569

# Flag bits in the top byte of each 48-byte big-endian integer z.
C_FLAG = 1 << 383  # "compressed" - required to be 1 in the first integer
B_FLAG = 1 << 382  # point at infinity
A_FLAG = 1 << 381  # which of the two y's
X_MASK = (1 << 381) - 1

G1_INFINITY = (C_FLAG | B_FLAG).to_bytes(48, "big")
G2_INFINITY = G1_INFINITY + b"\x00" * 48

# q = 3 mod 4, so a square root in Fq is a single exponentiation.
_SQRT_EXP = (q + 1) // 4
_INV2 = pow(2, q - 2, q)

Fq2Int = Tuple[int, int]  # (re, im), i.e. re + i*im with i^2 = -1


class BLSError(ValueError):
    """Raised for any malformed BLS input (wrong length, bad flags, off-curve, ...)."""


class G1Compressed(NamedTuple):
    """A syntactically valid G1 encoding: either infinity, or an x with its y-sign flag."""

    infinity: bool
    x: int
    a_flag: bool


class G2Compressed(NamedTuple):
    infinity: bool
    x: Fq2Int
    a_flag: bool


def parse_g1(data: bytes) -> G1Compressed:
    """Apply the spec's G1 encoding rules (everything except the on-curve/subgroup checks)."""
    if not isinstance(data, (bytes, bytearray)) or len(data) != 48:
        raise BLSError(f"G1 point must be 48 bytes, got {_describe(data)}")
    z = int.from_bytes(data, "big")
    x = z & X_MASK
    a = bool(z & A_FLAG)
    if not z & C_FLAG:
        raise BLSError("G1 point: c_flag must be 1")
    if z & B_FLAG:
        if a or x:
            raise BLSError("G1 point at infinity must have a_flag == x == 0")
        return G1Compressed(True, 0, False)
    if x >= q:
        raise BLSError("G1 point: x >= q")
    return G1Compressed(False, x, a)


def parse_g2(data: bytes) -> G2Compressed:
    """Apply the spec's G2 encoding rules (everything except the on-curve/subgroup checks)."""
    if not isinstance(data, (bytes, bytearray)) or len(data) != 96:
        raise BLSError(f"G2 point must be 96 bytes, got {_describe(data)}")
    z1 = int.from_bytes(data[:48], "big")
    z2 = int.from_bytes(data[48:], "big")
    x1 = z1 & X_MASK  # imaginary part
    x2 = z2  # real part; its three flag bits must be zero, so it must be < q < 2**381
    a = bool(z1 & A_FLAG)
    if not z1 & C_FLAG:
        raise BLSError("G2 point: c_flag1 must be 1")
    if z2 >> 381:
        raise BLSError("G2 point: flags of the second integer must be 0")
    if z1 & B_FLAG:
        if a or x1 or x2:
            raise BLSError("G2 point at infinity must have a_flag1 == x1 == x2 == 0")
        return G2Compressed(True, (0, 0), False)
    if x1 >= q or x2 >= q:
        raise BLSError("G2 point: coordinate >= q")
    return G2Compressed(False, (x2, x1), a)


def _describe(data: object) -> str:
    if isinstance(data, (bytes, bytearray)):
        return f"{len(data)} bytes"
    return type(data).__name__


def encode_g1(x: int, y: int) -> bytes:
    """Compressed encoding of an affine, non-infinity G1 point."""
    a = A_FLAG if (y * 2) // q else 0
    return (C_FLAG | a | x).to_bytes(48, "big")


def encode_g2(x: Fq2Int, y: Fq2Int) -> bytes:
    """Compressed encoding of an affine, non-infinity G2 point (imaginary part first)."""
    # The spec's a_flag is taken from y_im; when y_im == 0 the choice falls back to y_re,
    # which is the ZCash lexicographic rule and agrees with modular_squareroot's preference.
    a = A_FLAG if _fq2_is_larger(y) else 0
    return (C_FLAG | a | x[1]).to_bytes(48, "big") + x[0].to_bytes(48, "big")


# ---------------------------------------------------------------- Fq / Fq2 arithmetic

def fq_sqrt(v: int) -> Optional[int]:
    """A square root of v mod q, or None if v is not a square."""
    root = pow(v, _SQRT_EXP, q)
    return root if root * root % q == v % q else None


def g1_y_from_x(x: int, a_flag: bool) -> int:
    """Recover y for y^2 = x^3 + 4; raises BLSError if x is not on the curve."""
    y = fq_sqrt((x * x * x + 4) % q)
    if y is None:
        raise BLSError("G1 point not on curve")
    # Pick the root whose "is it > (q-1)/2" bit matches the flag.
    if bool((y * 2) // q) != a_flag:
        y = q - y
    return y


def fq2_mul(a: Fq2Int, b: Fq2Int) -> Fq2Int:
    # Karatsuba-free schoolbook; these are Python ints, the cost is in the mod anyway.
    return ((a[0] * b[0] - a[1] * b[1]) % q, (a[0] * b[1] + a[1] * b[0]) % q)


def fq2_sqr(a: Fq2Int) -> Fq2Int:
    return ((a[0] + a[1]) * (a[0] - a[1]) % q, 2 * a[0] * a[1] % q)


def fq2_neg(a: Fq2Int) -> Fq2Int:
    return ((-a[0]) % q, (-a[1]) % q)


def _fq2_is_larger(y: Fq2Int) -> bool:
    """True if y is the spec-preferred root of the pair {y, -y}.

    Preferred: imaginary part > (q-1)/2, or imaginary part zero and real part > (q-1)/2.
    """
    if y[1]:
        return (y[1] * 2) // q == 1
    return (y[0] * 2) // q == 1


def fq2_sqrt(a: Fq2Int) -> Optional[Fq2Int]:
    """The spec's `modular_squareroot`: the preferred square root of a, or None.

    Computed via the norm (Fq2 = Fq[i], q = 3 mod 4) with a couple of Fq exponentiations,
    which is much cheaper in Python than the spec's Fq2 exponentiation; the spec allows any
    method as long as the same root is returned.
    """
    a0, a1 = a[0] % q, a[1] % q
    if a1 == 0:
        r0 = fq_sqrt(a0)
        if r0 is not None:
            root = (r0, 0)
        else:
            # -1 is a non-square mod q, so -a0 is a square and sqrt(a0) = i*sqrt(-a0).
            r1 = fq_sqrt((-a0) % q)
            assert r1 is not None
            root = (0, r1)
    else:
        # a is a square in Fq2 iff its norm a0^2 + a1^2 is a square in Fq.
        s = fq_sqrt((a0 * a0 + a1 * a1) % q)
        if s is None:
            return None
        t = (a0 + s) * _INV2 % q
        x0 = fq_sqrt(t)
        if x0 is None:
            t = (a0 - s) * _INV2 % q
            x0 = fq_sqrt(t)
            if x0 is None:
                return None
        # (x0 + i*x1)^2 = a  gives  2*x0*x1 = a1; x0 != 0 since a1 != 0.
        x1 = a1 * pow(2 * x0, q - 2, q) % q
        root = (x0, x1)
    if fq2_sqr(root) != (a0, a1):
        return None
    return root if _fq2_is_larger(root) else fq2_neg(root)


_B2: Fq2Int = (4, 4)  # twist curve y^2 = x^3 + 4(i + 1)


def g2_rhs(x: Fq2Int) -> Fq2Int:
    x3 = fq2_mul(fq2_sqr(x), x)
    return ((x3[0] + _B2[0]) % q, (x3[1] + _B2[1]) % q)


def g2_y_from_x(x: Fq2Int, a_flag: bool) -> Fq2Int:
    """Recover y on the twist; raises BLSError if x is not on the curve."""
    y = fq2_sqrt(g2_rhs(x))
    if y is None:
        raise BLSError("G2 point not on curve")
    # fq2_sqrt returns the preferred ("larger") root, which is the a_flag == 1 one.
    return y if a_flag else fq2_neg(y)


L = TypeVar("L")


def check_hash_inputs(message_hash: bytes, domain: bytes) -> Tuple[bytes, bytes]:
    """Type/length-check hash_to_G2 inputs; returns them as plain bytes (cache keys)."""
    if not isinstance(message_hash, (bytes, bytearray)) or len(message_hash) != 32:
        raise BLSError(f"message_hash must be 32 bytes, got {_describe(message_hash)}")
    if not isinstance(domain, (bytes, bytearray)) or len(domain) != 8:
        raise BLSError(f"domain must be 8 bytes, got {_describe(domain)}")
    return bytes(message_hash), bytes(domain)


def hash_to_G2_lift(message_hash: bytes, domain: bytes, lift: Callable[[Fq2Int], Optional[L]]) -> L:
    """The spec's hash_to_G2 loop, before `multiply_in_G2(..., G2_cofactor)`.

    `lift(x)` must return the curve point (x, y) with y the spec's preferred square root
    (what `modular_squareroot` returns), or None if x^3 + 4(i + 1) is not a square. Backends
    pass their own lift so the point lands directly in their representation; the result is
    on the twist curve but not yet in the r-torsion subgroup.
    """
    message_hash, domain = check_hash_inputs(message_hash, domain)
    x_re = int.from_bytes(sha256_hash(message_hash + domain + b"\x01"), "big")
    x_im = int.from_bytes(sha256_hash(message_hash + domain + b"\x02"), "big")
    x: Fq2Int = (x_re, x_im)  # 256-bit hashes are already < q
    while True:
        point = lift(x)
        if point is not None:
            return point
        x = ((x[0] + 1) % q, x[1])  # add 1 (real part) and try again


def lift_x_python(x: Fq2Int) -> Optional[Tuple[Fq2Int, Fq2Int]]:
    """Pure-Python lift for hash_to_G2_lift: affine (x, y) or None."""
    y = fq2_sqrt(g2_rhs(x))
    return None if y is None else (x, y)


def hash_to_G2_affine(message_hash: bytes, domain: bytes) -> Tuple[Fq2Int, Fq2Int]:
    """Pure-Python pre-cofactor point of hash_to_G2 (affine (x, y))."""
    return hash_to_G2_lift(message_hash, domain, lift_x_python)


class Backend(Protocol):
    """Group arithmetic that beacon.crypto.bls needs; points are backend-specific objects.

    All G1/G2 points handed out by decode_* and hash_to_g2 are in the prime-order subgroup,
    so scalar multiplications may reduce scalars mod CURVE_ORDER.
    """

    name: str

    def decode_g1(self, data: bytes) -> Any: ...  # validated, cached; raises BLSError
    def decode_g2(self, data: bytes) -> Any: ...  # validated; raises BLSError
    def encode_g1(self, point: Any) -> bytes: ...
    def encode_g2(self, point: Any) -> bytes: ...
    def g1_sum(self, points: Sequence[Any]) -> Any: ...
    def g1_sub(self, a: Any, b: Any) -> Any: ...
    def g1_is_identity(self, point: Any) -> bool: ...
    def g2_sum(self, points: Sequence[Any]) -> Any: ...
    def g1_mul(self, point: Any, scalar: int) -> Any: ...
    def g2_lincomb(self, points: Sequence[Any], scalars: Sequence[int]) -> Any: ...
    def g1_generator_mul(self, scalar: int) -> Any: ...
    def neg_g1_generator(self) -> Any: ...
    def hash_to_g2(self, message_hash: bytes, domain: bytes) -> Any: ...  # cached
    # Pairing-side view of the hash: hash_to_g2 == [hash_scale] pairing_hash, and
    # pairing_neg_generator == -[1/hash_scale] g, so e(P, H) e(-g, S) == 1 exactly when
    # e(P, pairing_hash) e(pairing_neg_generator, S) == 1 (GT has prime order r). A backend
    # whose cofactor clearing ends in a multiplication by hash_scale skips it for verifying.
    hash_scale: int
    def pairing_hash(self, message_hash: bytes, domain: bytes) -> Any: ...  # cached
    def pairing_neg_generator(self) -> Any: ...
    def g2_projective(self, point: Any) -> Tuple[Fq2Int, Fq2Int, Fq2Int]: ...
    def pairing_check(self, g1s: Sequence[Any], g2s: Sequence[Any]) -> bool: ...
    def clear_caches(self) -> None: ...
