"""Merkleization primitives of simple-serialize.md (v0.8.2): merkleize, mix_in_length, pack.

`MerkleCache` keeps every layer of a list's tree so that changing k leaves costs
k * depth hashes instead of rebuilding the whole tree.
"""
from __future__ import annotations

from hashlib import sha256
from typing import Callable, Iterable, Sequence

BYTES_PER_CHUNK = 32
ZERO_CHUNK = b"\x00" * BYTES_PER_CHUNK

# ZERO_HASHES[d] is the root of a tree of depth d with only zero chunks.
ZERO_HASHES: list[bytes] = [ZERO_CHUNK]
for _ in range(64):
    ZERO_HASHES.append(sha256(ZERO_HASHES[-1] + ZERO_HASHES[-1]).digest())


def python_hash_layer(data: bytes) -> bytes:
    """SHA-256 of every 64-byte piece of `data`, concatenated (one Merkle layer)."""
    h = sha256
    return b"".join([h(data[i:i + 64]).digest() for i in range(0, len(data), 64)])


# The layer hasher of bulk merkleization (container.batch_set_roots): hashlib here; a faster one
# with the same output (beacon/state/roots.py's C form) is plugged in by the layer that has it.
hash_layer: Callable[[bytes], bytes] = python_hash_layer


def use_hash_layer(fn: Callable[[bytes], bytes]) -> None:
    global hash_layer
    hash_layer = fn


def depth_for(limit: int) -> int:
    """log2(next_pow_of_two(limit)), with 0 and 1 both mapping to depth 0."""
    return max(limit - 1, 0).bit_length()


def pack_bytes(data: bytes) -> list[bytes]:
    """Split serialized basic values into 32-byte chunks, right-padding the last one."""
    if not data:
        return []
    rem = len(data) % BYTES_PER_CHUNK
    if rem:
        data = data + b"\x00" * (BYTES_PER_CHUNK - rem)
    return [data[i:i + BYTES_PER_CHUNK] for i in range(0, len(data), BYTES_PER_CHUNK)]


_BULK_LAYER = 1024  # from this many chunks a layer goes through hash_layer (join, hash, split)


def _next_layer(layer: Sequence[bytes], depth: int) -> list[bytes]:
    if len(layer) % 2:
        layer = [*layer, ZERO_HASHES[depth]]
    if len(layer) >= _BULK_LAYER and hash_layer is not python_hash_layer:
        # A big tree (the 300,000 validator roots of a state just loaded): one C call per layer.
        data = hash_layer(b"".join(layer))
        return [data[i:i + 32] for i in range(0, len(data), 32)]
    it = iter(layer)
    return [sha256(a + b).digest() for a, b in zip(it, it)]


def merkleize(chunks: Sequence[bytes], limit: int | None = None) -> bytes:
    count = len(chunks)
    if limit is None:
        limit = count
    elif count > limit:
        raise ValueError(f"merkleize: {count} chunks exceed the limit {limit}")
    depth = depth_for(limit)
    if count == 0:
        return ZERO_HASHES[depth]
    layer: Sequence[bytes] = chunks
    for d in range(depth):
        layer = _next_layer(layer, d)
    return layer[0]


def mix_in_length(root: bytes, length: int) -> bytes:
    return sha256(root + length.to_bytes(32, "little")).digest()


class MerkleCache:
    """All layers of a Merkle tree over `count` leaves, padded virtually to `depth`.

    layers[0] are the leaves; layers[d] has ceil(len(layers[d-1]) / 2) nodes; a missing right
    sibling is ZERO_HASHES[d-1]. Above the last real layer the root is folded with zero hashes.
    """

    __slots__ = ("layers", "depth", "shared")

    def __init__(self, leaves: list[bytes], depth: int) -> None:
        self.depth = depth
        self.shared = False  # layers also belong to a copy: copy them before writing
        self.layers: list[list[bytes]] = [leaves]
        d = 0
        while len(self.layers[-1]) > 1:
            self.layers.append(_next_layer(self.layers[-1], d))
            d += 1

    def copy(self) -> "MerkleCache":
        """Copy-on-write: states are copied per block, but most of their trees never change."""
        new = MerkleCache.__new__(MerkleCache)
        new.depth = self.depth
        new.layers = self.layers
        new.shared = self.shared = True
        return new

    def own(self) -> None:
        """Make the layers private before writing to them."""
        if self.shared:
            self.layers = [list(layer) for layer in self.layers]
            self.shared = False

    def update(self, changed: Iterable[int]) -> None:
        """Leaves at `changed` were rewritten or appended in layers[0]; rehash their paths.

        Appended leaves must be in `changed`; shrinking is not supported (rebuild instead).
        """
        self.own()
        dirty = set(changed)
        d = 0
        while len(self.layers[d]) > 1:
            layer = self.layers[d]
            if d + 1 == len(self.layers):
                self.layers.append([])
            upper = self.layers[d + 1]
            need = (len(layer) + 1) >> 1
            if len(upper) < need:
                # New parents; each has a new (hence dirty) child, so all get computed below.
                upper.extend([ZERO_CHUNK] * (need - len(upper)))
            parents = {i >> 1 for i in dirty}
            zero = ZERO_HASHES[d]
            n = len(layer)
            for p in parents:
                right = layer[2 * p + 1] if 2 * p + 1 < n else zero
                upper[p] = sha256(layer[2 * p] + right).digest()
            dirty = parents
            d += 1

    def root(self) -> bytes:
        top = self.layers[-1]
        node = top[0] if top else ZERO_HASHES[0]
        for d in range(len(self.layers) - 1, self.depth):
            node = sha256(node + ZERO_HASHES[d]).digest()
        return node if self.layers[0] else ZERO_HASHES[self.depth]
