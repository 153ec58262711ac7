"""Interop key pairs (eth2.0-pm interop/mocked_start, "Pubkey/privkey generation").

privkey_i = int.from_bytes(sha256(i as 32 bytes, little-endian), 'little') mod the curve order;
pubkey_i = privtopub(privkey_i). Private keys are cheap; public keys cost one G1 scalar
multiplication each, so the derived pubkeys are kept in a small file under the user cache
dir (one 48-byte record per index, in index order) and only the missing tail is derived.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from beacon.crypto._bls_common import CURVE_ORDER

# Name of the cache file: the records are a pure function of the index, so one file serves
# every preset and every run.
_CACHE_NAME = "interop_pubkeys_v1.bin"
_RECORD = 48


def interop_privkey(index: int) -> int:
    """The interop private key of validator `index`."""
    if index < 0:
        raise ValueError(f"validator index must be non-negative, got {index}")
    digest = hashlib.sha256(index.to_bytes(32, "little")).digest()
    return int.from_bytes(digest, "little") % CURVE_ORDER


def interop_privkeys(count: int, start: int = 0) -> list[int]:
    return [interop_privkey(i) for i in range(start, start + count)]


def cache_dir() -> Path:
    """The user cache dir for pybeacon: $PYBEACON_CACHE_DIR, else $XDG_CACHE_HOME/pybeacon,
    else ~/.cache/pybeacon (the freedesktop convention; no extra dependency for one path)."""
    explicit = os.environ.get("PYBEACON_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pybeacon"


def _derive(privkeys: list[int]) -> list[bytes]:
    from beacon.crypto import bls  # imported here: the cache path must not need a BLS backend

    return [bytes(bls.privtopub(k)) for k in privkeys]


def _read_cache(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    # A torn or foreign file: use only whole records, and only if the first one is right.
    n = len(data) // _RECORD
    records = [data[i * _RECORD:(i + 1) * _RECORD] for i in range(n)]
    return records


def _write_cache(path: Path, records: list[bytes]) -> None:
    """Replace the cache file atomically, so a concurrent reader never sees a half file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pubkeys.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(b"".join(records))
        os.replace(tmp, path)
    except OSError:
        # The cache is an optimisation; a read-only home must not stop genesis.
        pass


def interop_pubkeys(count: int, use_cache: bool = True) -> list[bytes]:
    """Public keys of validators 0..count-1, from the disk cache where possible.

    Cached records are checked by re-deriving a sample (the first and the last one used), so a
    corrupt cache file is discarded rather than silently producing wrong validators.
    """
    if count <= 0:
        return []
    path = cache_dir() / _CACHE_NAME
    cached = _read_cache(path) if use_cache else []
    if cached:
        probe = sorted({0, min(count, len(cached)) - 1})
        if _derive([interop_privkey(i) for i in probe]) != [cached[i] for i in probe]:
            cached = []
    if len(cached) >= count:
        return cached[:count]
    missing = _derive(interop_privkeys(count - len(cached), start=len(cached)))
    records = cached + missing
    if use_cache:
        _write_cache(path, records)
    return records


def interop_keypairs(count: int, use_cache: bool = True) -> list[tuple[int, bytes]]:
    """(privkey, pubkey) for validators 0..count-1."""
    return list(zip(interop_privkeys(count), interop_pubkeys(count, use_cache=use_cache)))
