"""Pre-built chains of real signed blocks for p2p tests and benchmarks/range_sync.py.

Building a chain signs every block, RANDAO reveal and attestation (seconds per hundred
blocks), so a built chain is cached on disk under the user cache dir
(`genesis.keys.cache_dir()/chains/`), keyed by everything that determines it: preset,
validator count, genesis time, block count. The cache holds the genesis state and the
blocks as SSZ; a file that does not decode is rebuilt, never trusted half-way.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beacon.config import load_config

# A fixed genesis time in the past: every pre-built block is long "due" by the wall clock.
DEFAULT_GENESIS_TIME = 1567777777
CACHE_VERSION = 1


@dataclass
class PrebuiltChain:
    genesis: Any  # BeaconState
    blocks: list[bytes]  # SSZ BeaconBlocks, slots 1..n, each on the previous one
    path: Path | None  # the cache file, if any

    def decoded(self) -> list[Any]:
        t = self.genesis.types
        return [t.BeaconBlock.deserialize(b) for b in self.blocks]


def _cache_file(preset: str, validators: int, genesis_time: int, blocks: int) -> Path:
    from genesis.keys import cache_dir

    name = f"chain-v{CACHE_VERSION}-{preset}-v{validators}-t{genesis_time}-b{blocks}.bin"
    return cache_dir() / "chains" / name


def _pack(genesis: bytes, blocks: list[bytes]) -> bytes:
    parts = [struct.pack("<II", len(genesis), len(blocks)), genesis]
    for b in blocks:
        parts += [struct.pack("<I", len(b)), b]
    return b"".join(parts)


def _unpack(raw: bytes) -> tuple[bytes, list[bytes]]:
    glen, count = struct.unpack_from("<II", raw, 0)
    pos = 8
    genesis = raw[pos:pos + glen]
    pos += glen
    blocks = []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        blocks.append(raw[pos:pos + n])
        pos += n
    if pos != len(raw) or len(genesis) != glen:
        raise ValueError("truncated chain cache file")
    return genesis, blocks


def prebuilt_chain(blocks: int, validators: int = 64, genesis_time: int = DEFAULT_GENESIS_TIME,
                   preset: str = "minimal", use_cache: bool = True) -> PrebuiltChain:
    """A chain of `blocks` blocks (one per slot from slot 1, each carrying the previous
    slot's attestations with full participation), from the disk cache when present."""
    from beacon.types import get_types

    cfg = load_config(preset)
    t = get_types(cfg)
    path = _cache_file(preset, validators, genesis_time, blocks)
    if use_cache and path.exists():
        try:
            g, bl = _unpack(path.read_bytes())
            return PrebuiltChain(t.BeaconState.deserialize(g), bl, path)
        except Exception:  # corrupt or stale: rebuild below
            pass
    from beacon.chain.testing import ChainBuilder
    from genesis.state import create_interop_genesis_state

    genesis = create_interop_genesis_state(cfg, validators, genesis_time)
    builder = ChainBuilder(genesis)
    roots = builder.extend(builder.genesis_root, 1, blocks + 1)
    ssz = [builder.blocks[r].serialize() for r in roots]
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_bytes(_pack(genesis.serialize(), ssz))
            os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
        except OSError:
            pass  # the cache is only an optimisation
    return PrebuiltChain(genesis, ssz, path if use_cache else None)
