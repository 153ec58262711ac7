"""BLS signatures as in specs/bls_signature.md (v0.8.2): the project's one BLS interface.

Byte-level API (48-byte G1 pubkeys, 96-byte G2 signatures, 32-byte message hashes, 8-byte
domains) over two interchangeable backends:

* "fast"   - pyblst (blst) for G1 and the pairings, py_arkworks_bls12381 (Rust) for G2
             arithmetic (see _bls_fast for why two);
* "py_ecc" - py_ecc.optimized_bls12_381, pure Python, the slow reference.

Chosen by env PYBEACON_BLS=fast|py_ecc (default fast) or set_backend()/use_backend().
A large batch can be split over two threads: set_pairing_threads(2) or PYBEACON_BLS_THREADS=2.
hash_to_G2 is the spec's pre-IETF try-and-increment construction for both backends.

verify* never raise: any malformed input makes them return False. Decoding helpers and
sign/aggregate raise BLSError (a ValueError) on malformed input. Verification can be
switched off (bls_setting 2 vectors, trusted replays) with set_bls_enabled(False) or
`with enabled(False):`; verify* then return True without looking at their inputs, while
signing and aggregation keep working.
"""
from __future__ import annotations

import contextvars
import os
import secrets
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from beacon.crypto._bls_common import (
    CURVE_ORDER,
    G1_INFINITY,
    G2_INFINITY,
    Backend,
    BLSError,
    Fq2Int,
    check_hash_inputs,
    g1_y_from_x,
    g2_y_from_x,
    parse_g1,
    parse_g2,
    q,
)

__all__ = [
    "BLSError",
    "CURVE_ORDER",
    "CommitteeSubset",
    "G1_INFINITY",
    "G2_INFINITY",
    "SignatureSet",
    "aggregate_pubkeys",
    "aggregate_signatures",
    "clear_caches",
    "decompress_G1",
    "decompress_G2",
    "enabled",
    "g2_projective_equal",
    "get_backend",
    "get_pairing_threads",
    "hash_to_G2",
    "hash_to_G2_compressed",
    "hash_to_G2_uncompressed",
    "is_bls_enabled",
    "privtopub",
    "set_backend",
    "set_bls_enabled",
    "set_pairing_threads",
    "sign",
    "use_backend",
    "verify",
    "verify_batch",
    "verify_each",
    "verify_multiple",
]

BACKENDS = ("fast", "py_ecc")
# Bounded caches (per backend): decoded pubkeys (~65k validators fit) and hash_to_G2 points.
PUBKEY_CACHE_SIZE = 1 << 16
HASH_CACHE_SIZE = 1 << 12

_instances: Dict[str, Backend] = {}
_enabled = True


def _instance(name: str) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"unknown BLS backend {name!r}; choose one of {BACKENDS}")
    if name not in _instances:
        # Imported lazily so a missing optional library only matters when it is chosen.
        if name == "fast":
            from beacon.crypto._bls_fast import FastBackend

            _instances[name] = FastBackend(PUBKEY_CACHE_SIZE, HASH_CACHE_SIZE)
        else:
            from beacon.crypto._bls_pyecc import PyEccBackend

            _instances[name] = PyEccBackend(PUBKEY_CACHE_SIZE, HASH_CACHE_SIZE)
    return _instances[name]


_backend: Backend = _instance(os.environ.get("PYBEACON_BLS", "fast") or "fast")


def set_backend(name: str) -> None:
    """Switch the process-wide backend ("fast" or "py_ecc")."""
    global _backend
    _backend = _instance(name)


def get_backend() -> str:
    return _backend.name


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Temporarily switch backend (tests, benchmarks)."""
    previous = _backend.name
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


# A scoped override (`with enabled(False)`) lives in a context variable, not a global: the
# node verifies sync batches in worker threads while trusted replays run on the event loop,
# and switching verification off for one must never switch it off for the other.
_override: contextvars.ContextVar[bool | None] = contextvars.ContextVar("bls_enabled", default=None)


def set_bls_enabled(flag: bool) -> None:
    """Process-wide default (spectest workers, CLI); scoped overrides take precedence."""
    global _enabled
    _enabled = bool(flag)


def is_bls_enabled() -> bool:
    override = _override.get()
    return _enabled if override is None else override


@contextmanager
def enabled(flag: bool) -> Iterator[None]:
    """`with bls.enabled(False): ...` runs a block with verification off, for this context only
    (this thread, or this trio task and the worker threads it starts)."""
    token = _override.set(bool(flag))
    try:
        yield
    finally:
        _override.reset(token)


def clear_caches() -> None:
    """Drop the pubkey, signature, committee-sum and hash_to_G2 caches of every backend."""
    for backend in _instances.values():
        backend.clear_caches()
    with _committee_sums_lock:
        _committee_sums.clear()


# ---------------------------------------------------------------- signing and aggregation

def _check_privkey(privkey: int) -> int:
    if isinstance(privkey, bool) or not isinstance(privkey, int) or privkey < 0:
        raise BLSError(f"privkey must be a non-negative int, got {privkey!r}")
    # Points are in the order-r subgroup, so the key only matters mod r.
    return privkey % CURVE_ORDER


def privtopub(privkey: int) -> bytes:
    """privkey * g in G1, compressed (48 bytes)."""
    return _backend.encode_g1(_backend.g1_generator_mul(_check_privkey(privkey)))


def sign(message_hash: bytes, privkey: int, domain: bytes) -> bytes:
    """privkey * hash_to_G2(message_hash, domain), compressed (96 bytes). Works when disabled."""
    k = _check_privkey(privkey)
    b = _backend
    # [k] hash_to_G2 = [k * hash_scale] pairing_hash; both points are in G2, so mod r is exact.
    h = b.pairing_hash(message_hash, domain)
    return b.encode_g2(b.g2_lincomb([h], [k * b.hash_scale % CURVE_ORDER]))


def aggregate_pubkeys(pubkeys: Sequence[bytes]) -> bytes:
    """Sum of the G1 points (spec bls_aggregate_pubkeys); [] gives the infinity encoding."""
    return _backend.encode_g1(_backend.g1_sum([_backend.decode_g1(p) for p in pubkeys]))


def aggregate_signatures(signatures: Sequence[bytes]) -> bytes:
    """Sum of the G2 points (spec bls_aggregate_signatures); [] gives the infinity encoding."""
    return _backend.encode_g2(_backend.g2_sum([_backend.decode_g2(s) for s in signatures]))


# ---------------------------------------------------------------- hash_to_G2 views

def hash_to_G2(message_hash: bytes, domain: bytes) -> Tuple[Fq2Int, Fq2Int]:
    """The spec's hash_to_G2 as an affine point ((x_re, x_im), (y_re, y_im))."""
    x, y, z = hash_to_G2_uncompressed(message_hash, domain)
    return _g2_to_affine(x, y, z)


def hash_to_G2_compressed(message_hash: bytes, domain: bytes) -> bytes:
    """hash_to_G2 in the 96-byte compressed encoding (z1 || z2, imaginary part first)."""
    return _backend.encode_g2(_backend.hash_to_g2(message_hash, domain))


def hash_to_G2_uncompressed(message_hash: bytes, domain: bytes) -> Tuple[Fq2Int, Fq2Int, Fq2Int]:
    """hash_to_G2 as homogeneous projective (X, Y, Z), each (re, im), affine = (X/Z, Y/Z).

    Projective coordinates are not unique: the py_ecc backend returns exactly the triple of
    the msg_hash_uncompressed vectors, the fast backend returns Z = 1. Compare with
    g2_projective_equal.
    """
    return _backend.g2_projective(_backend.hash_to_g2(message_hash, domain))


def _fq2_mul(a: Fq2Int, b: Fq2Int) -> Fq2Int:
    return ((a[0] * b[0] - a[1] * b[1]) % q, (a[0] * b[1] + a[1] * b[0]) % q)


def _fq2_inv(a: Fq2Int) -> Fq2Int:
    n = pow((a[0] * a[0] + a[1] * a[1]) % q, q - 2, q)
    return (a[0] * n % q, (-a[1]) * n % q)


def _g2_to_affine(x: Fq2Int, y: Fq2Int, z: Fq2Int) -> Tuple[Fq2Int, Fq2Int]:
    if z[0] % q == 0 and z[1] % q == 0:
        raise BLSError("point at infinity has no affine coordinates")
    zi = _fq2_inv(z)
    return _fq2_mul(x, zi), _fq2_mul(y, zi)


def g2_projective_equal(
    a: Tuple[Fq2Int, Fq2Int, Fq2Int], b: Tuple[Fq2Int, Fq2Int, Fq2Int]
) -> bool:
    """Whether two homogeneous projective G2 triples are the same point (X1 Z2 == X2 Z1 ...)."""
    (x1, y1, z1), (x2, y2, z2) = a, b
    inf1 = z1[0] % q == 0 and z1[1] % q == 0
    inf2 = z2[0] % q == 0 and z2[1] % q == 0
    if inf1 or inf2:
        return inf1 and inf2
    return _fq2_mul(x1, z2) == _fq2_mul(x2, z1) and _fq2_mul(y1, z2) == _fq2_mul(y2, z1)


# ---------------------------------------------------------------- decoding helpers

def decompress_G1(pubkey: bytes) -> Optional[Tuple[int, int]]:
    """Validate a compressed G1 point; return affine (x, y), or None for infinity."""
    _backend.decode_g1(pubkey)  # all spec checks, on-curve and subgroup; raises BLSError
    parsed = parse_g1(pubkey)
    return None if parsed.infinity else (parsed.x, g1_y_from_x(parsed.x, parsed.a_flag))


def decompress_G2(signature: bytes) -> Optional[Tuple[Fq2Int, Fq2Int]]:
    """Validate a compressed G2 point; return affine ((x_re, x_im), (y_re, y_im)) or None."""
    _backend.decode_g2(signature)
    parsed = parse_g2(signature)
    return None if parsed.infinity else (parsed.x, g2_y_from_x(parsed.x, parsed.a_flag))


# ---------------------------------------------------------------- verification

def verify(pubkey: bytes, message_hash: bytes, signature: bytes, domain: bytes) -> bool:
    """Spec bls_verify: e(pubkey, hash_to_G2(message_hash, domain)) == e(g, signature)."""
    if not is_bls_enabled():
        return True
    return _check([_Prepared.build([(pubkey,)], [message_hash], signature, domain)])


def verify_multiple(
    pubkeys: Sequence[bytes], message_hashes: Sequence[bytes], signature: bytes, domain: bytes
) -> bool:
    """Spec bls_verify_multiple: prod_i e(pubkeys[i], hash_to_G2(message_hashes[i])) == e(g, sig)."""
    if not is_bls_enabled():
        return True
    try:
        signers = [(p,) for p in pubkeys]
        if len(signers) != len(message_hashes):
            return False
    except TypeError:  # not sequences at all: malformed input, still just "invalid"
        return False
    return _check([_Prepared.build(signers, message_hashes, signature, domain)])


class CommitteeSubset(NamedTuple):
    """A signer group given as a whole committee minus its absent members.

    Its sum is the committee's sum (cached per committee: every aggregate of that committee
    in an epoch reuses it) minus the absent members' keys, so a nearly full aggregate costs
    a few point additions instead of one per member. Same point as summing the present keys.
    """

    committee: Tuple[bytes, ...]
    absent: Tuple[bytes, ...]


_COMMITTEE_SUMS_MAX = 4096  # two epochs of mainnet committees at any registry size
_committee_sums: "OrderedDict[Tuple[str, Tuple[bytes, ...]], Any]" = OrderedDict()
_committee_sums_lock = threading.Lock()


def _committee_sum(b: Backend, committee: Tuple[bytes, ...]) -> Any:
    key = (b.name, committee)
    with _committee_sums_lock:
        found = _committee_sums.get(key)
        if found is not None:
            _committee_sums.move_to_end(key)
            return found
    total = b.g1_sum([b.decode_g1(p) for p in committee])  # raises BLSError before caching
    with _committee_sums_lock:
        _committee_sums[key] = total
        if len(_committee_sums) > _COMMITTEE_SUMS_MAX:
            _committee_sums.popitem(last=False)
    return total


def _group_point(b: Backend, group: Any) -> Any:
    if isinstance(group, CommitteeSubset):
        total = _committee_sum(b, group.committee)
        if group.absent:
            total = b.g1_sub(total, b.g1_sum([b.decode_g1(p) for p in group.absent]))
        return total
    return b.g1_sum([b.decode_g1(p) for p in group])


@dataclass(frozen=True)
class SignatureSet:
    """One signature check for verify_batch.

    `signers[i]` are the pubkeys whose sum signed `message_hashes[i]` (a single pubkey is a
    one-element group), so a set covers bls_verify, bls_verify_multiple and
    bls_verify(bls_aggregate_pubkeys(...)) alike.
    """

    signers: Tuple[Tuple[bytes, ...], ...]
    message_hashes: Tuple[bytes, ...]
    signature: bytes
    domain: bytes

    @classmethod
    def single(cls, pubkey: bytes, message_hash: bytes, signature: bytes, domain: bytes) -> SignatureSet:
        return cls(((pubkey,),), (message_hash,), signature, domain)

    @classmethod
    def multiple(
        cls, pubkeys: Sequence[bytes], message_hashes: Sequence[bytes], signature: bytes, domain: bytes
    ) -> SignatureSet:
        """Same check as verify_multiple (lengths are compared when verifying)."""
        return cls(tuple((p,) for p in pubkeys), tuple(message_hashes), signature, domain)

    @classmethod
    def aggregate(
        cls, pubkeys: Sequence[bytes], message_hash: bytes, signature: bytes, domain: bytes
    ) -> SignatureSet:
        """Same check as verify(aggregate_pubkeys(pubkeys), message_hash, ...)."""
        return cls((tuple(pubkeys),), (message_hash,), signature, domain)

    @classmethod
    def grouped(
        cls,
        pubkey_groups: Sequence[Sequence[bytes]],
        message_hashes: Sequence[bytes],
        signature: bytes,
        domain: bytes,
    ) -> SignatureSet:
        """verify_multiple([aggregate_pubkeys(g) for g in groups], message_hashes, ...); a group
        may be a CommitteeSubset."""
        return cls(tuple(g if isinstance(g, CommitteeSubset) else tuple(g) for g in pubkey_groups),
                   tuple(message_hashes), signature, domain)


@dataclass
class _Prepared:
    """A decoded signature check: pairs (signer-sum, H(message)) against one signature."""

    keys: List[Tuple[bytes, bytes]]  # (message_hash, domain) per pair, to merge equal H's
    g1s: List[Any]
    g2s: List[Any]
    signature: Any

    @staticmethod
    def build(
        signers: Sequence[Sequence[bytes]],
        message_hashes: Sequence[bytes],
        signature: bytes,
        domain: bytes,
    ) -> Optional[_Prepared]:
        """Decode everything; None if anything is malformed (verification then fails)."""
        if len(signers) != len(message_hashes):
            return None
        b = _backend
        keys: List[Tuple[bytes, bytes]] = []
        g1s: List[Any] = []
        g2s: List[Any] = []
        try:
            sig = b.decode_g2(signature)
            for group, m in zip(signers, message_hashes):
                point = _group_point(b, group)
                key = check_hash_inputs(m, domain)  # malformed input fails even when unused
                # An empty (or cancelling) signer group pairs to 1 whatever the message:
                # no hash_to_G2, no Miller loop (every attestation's custody-bit-1 group).
                if b.g1_is_identity(point):
                    continue
                keys.append(key)
                g1s.append(point)
                g2s.append(b.pairing_hash(*key))
        except BLSError:
            return None
        return _Prepared(keys, g1s, g2s, sig)


def _check(sets: Sequence[Optional[_Prepared]]) -> bool:
    """All sets verify. Large batches are split in two halves checked on two cores.

    Each half is a complete randomised batch check of its own (see _check_prepared), so the
    answer is "both halves pass"; a half costs one more final exponentiation and Miller loop
    than one multi-pairing would. Off the main thread the fast backend pairs with arkworks,
    which releases the GIL, so the worker's half runs beside the caller's.
    """
    if any(s is None for s in sets):
        return False
    prepared = [s for s in sets if s is not None]
    if not prepared:
        return True
    b = _backend
    pool = _pairing_pool(b, prepared)
    if pool is None:
        return _check_prepared(b, prepared)
    cut = _balanced_cut(prepared)
    other = pool.submit(_check_prepared, b, prepared[cut:])
    try:
        here = _check_prepared(b, prepared[:cut])
    finally:
        there = other.result()  # always joined: never leave a pairing running behind us
    return here and there


def _check_prepared(b: Backend, prepared: Sequence[_Prepared]) -> bool:
    """One multi-pairing for all sets: prod e(sum r_i P, H) * e(-g, sum r_i S_i) == 1
    (in the backend's pairing_hash form, which is the same equation raised to 1/hash_scale).

    With several sets, each gets a random nonzero 64-bit weight r_i so that invalid sets
    cannot cancel each other out (the signatures are subgroup-checked, so this is sound up
    to ~2^-64); one set needs no weight and is exactly the spec's equation.
    """
    if len(prepared) == 1:
        weights = [1]
    else:
        weights = [secrets.randbelow(2**64 - 1) + 1 for _ in prepared]
    # Merge pairs with the same H: e(A, H) * e(B, H) = e(A + B, H) saves Miller loops.
    merged: Dict[Tuple[bytes, bytes], Tuple[Any, List[Any]]] = {}
    for s, r in zip(prepared, weights):
        for key, p, h in zip(s.keys, s.g1s, s.g2s):
            entry = merged.setdefault(key, (h, []))
            entry[1].append(p if r == 1 else b.g1_mul(p, r))
    g1s = [b.g1_sum(ps) if len(ps) > 1 else ps[0] for _, ps in merged.values()]
    g2s = [h for h, _ in merged.values()]
    sigs = [s.signature for s in prepared]
    g1s.append(b.pairing_neg_generator())  # pairs with pairing_hash points (see Backend)
    g2s.append(sigs[0] if len(sigs) == 1 else b.g2_lincomb(sigs, weights))
    return b.pairing_check(g1s, g2s)


# Splitting a batch on two cores (fast backend only: py_ecc holds the GIL). Off by default:
# it lowers the wall time only when the second core is free, and costs about 10% more CPU
# (the worker's half runs on arkworks). Below SPLIT_MIN_PAIRS Miller loops the extra final
# exponentiation and the thread hand-off cost more than the second core saves.
SPLIT_MIN_PAIRS = 16


def _threads_from_env() -> int:
    raw = os.environ.get("PYBEACON_BLS_THREADS", "").strip()
    if raw in ("", "1", "2"):
        return int(raw or "1")
    raise ValueError(f"PYBEACON_BLS_THREADS must be 1 or 2, got {raw!r}")


_pairing_threads = _threads_from_env()
_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def set_pairing_threads(n: int) -> None:
    """1 (default): every batch is one multi-pairing on the calling thread; 2: batches of at
    least SPLIT_MIN_PAIRS pairs are split between the calling thread and one worker thread."""
    global _pairing_threads
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 2:
        raise ValueError(f"pairing threads must be 1 or 2, got {n!r}")
    _pairing_threads = n


def get_pairing_threads() -> int:
    return _pairing_threads


def _pairing_pool(b: Backend, prepared: Sequence[_Prepared]) -> Optional[ThreadPoolExecutor]:
    global _pool
    if _pairing_threads < 2 or b.name != "fast" or len(prepared) < 2:
        return None
    if sum(len(s.g1s) for s in prepared) < SPLIT_MIN_PAIRS:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bls-pairing")
        return _pool


# The worker's half runs on arkworks (the GIL released), whose Miller loop costs about 1.6x
# blst's on this thread: the calling thread takes this share of the pairs.
_CALLER_SHARE = 0.6


def _balanced_cut(prepared: Sequence[_Prepared]) -> int:
    """Where to split the sets so both threads finish together (one set at least each)."""
    total = sum(len(s.g1s) for s in prepared)
    acc = 0
    for i, s in enumerate(prepared[:-1]):
        acc += len(s.g1s)
        if acc >= _CALLER_SHARE * total:
            return i + 1
    return len(prepared) - 1


def verify_batch(sets: Iterable[SignatureSet]) -> bool:
    """True iff every set verifies; one randomised multi-pairing for all of them."""
    if not is_bls_enabled():
        return True
    return _check(
        [_Prepared.build(s.signers, s.message_hashes, s.signature, s.domain) for s in sets]
    )


def verify_each(sets: Iterable[SignatureSet]) -> List[bool]:
    """Per-set results (to find which set of a failed batch is bad)."""
    items = list(sets)
    if not is_bls_enabled():
        return [True] * len(items)
    return [
        _check([_Prepared.build(s.signers, s.message_hashes, s.signature, s.domain)])
        for s in items
    ]


# The beacon-chain spec calls these by their bls_ names.
bls_verify = verify
bls_verify_multiple = verify_multiple
bls_aggregate_pubkeys = aggregate_pubkeys
bls_aggregate_signatures = aggregate_signatures
