"""A small in-memory ChainView: a real implementation of the Protocol for tests.

Blocks are opaque byte strings keyed by a root (here sha256 of the bytes); the chain is
a list of (slot, root) from genesis to head. Gossip validation accepts payloads that do
not start with b"BAD" and rejects those that do, which is enough to drive the wire.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

from beacon.p2p.interface import BlockAtSlot, ChainView, Checkpoint, GossipVerdict, ImportOutcome, ImportResult

SLOTS_PER_EPOCH = 8
NULL_BLOCK = b"\x00" * 8  # stands in for the SSZ of the default BeaconBlock


def root_of(block: bytes) -> bytes:
    return hashlib.sha256(block).digest()


@dataclass
class MemoryChain:
    fork: bytes = b"\x00\x00\x00\x00"
    # canonical chain: slot -> block bytes (slots may be empty)
    blocks_by_slot: dict[int, bytes] = field(default_factory=dict)
    finalized_epoch: int = 0
    imported: list[bytes] = field(default_factory=list)
    epoch_seconds: float = 3600.0  # how often peers re-status (tests shorten it)
    gossip_seen: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def with_blocks(cls, slots: Sequence[int], fork: bytes = b"\x00\x00\x00\x00", tag: bytes = b"") -> "MemoryChain":
        chain = cls(fork=fork)
        for s in slots:
            chain.blocks_by_slot[s] = b"block-%d-" % s + tag
        return chain

    def _root_by_block(self) -> dict[bytes, int]:
        return {root_of(b): s for s, b in self.blocks_by_slot.items()}

    def fork_version(self) -> bytes:
        return self.fork

    def finalized_checkpoint(self) -> Checkpoint:
        if self.finalized_epoch == 0:
            return Checkpoint(0, b"\x00" * 32)
        root = self.checkpoint_root_at_epoch(self.finalized_epoch)
        assert root is not None
        return Checkpoint(self.finalized_epoch, root)

    def head(self) -> tuple[bytes, int]:
        if not self.blocks_by_slot:
            return b"\x00" * 32, 0
        slot = max(self.blocks_by_slot)
        return root_of(self.blocks_by_slot[slot]), slot

    def checkpoint_root_at_epoch(self, epoch: int) -> bytes | None:
        start = epoch * SLOTS_PER_EPOCH
        if start > self.head()[1]:
            return None
        at_or_before = [s for s in self.blocks_by_slot if s <= start]
        if not at_or_before:
            return None
        return root_of(self.blocks_by_slot[max(at_or_before)])

    async def blocks_by_range(self, head_block_root: bytes, start_slot: int, count: int, step: int) -> Sequence[BlockAtSlot] | None:
        if head_block_root not in self._root_by_block():
            return None
        head_slot = self._root_by_block()[head_block_root]
        out = []
        for i in range(count):
            slot = start_slot + i * step
            if slot > head_slot:
                break
            if slot in self.blocks_by_slot:
                out.append(BlockAtSlot(slot, self.blocks_by_slot[slot]))
        return out

    async def blocks_by_root(self, roots: Sequence[bytes]) -> Sequence[bytes | None]:
        index = self._root_by_block()
        return [self.blocks_by_slot[index[r]] if r in index else None for r in roots]

    def null_block(self) -> bytes:
        return NULL_BLOCK

    def block_name(self, root: bytes) -> bytes | None:
        return root if root in self._root_by_block() else None

    def seconds_per_epoch(self) -> float:
        return self.epoch_seconds

    async def import_blocks(self, blocks: Sequence[bytes]) -> Sequence[ImportOutcome]:
        self.imported.extend(blocks)
        return [ImportOutcome(ImportResult.IMPORTED, self.block_slot(b), root_of(b)) for b in blocks]

    def block_slot(self, ssz: bytes) -> int | None:
        # MemoryChain blocks are b"block-<slot>-<tag>"; the null block counts as one
        if ssz == NULL_BLOCK:
            return 0
        if not ssz.startswith(b"block-"):
            return None
        try:
            return int(ssz.split(b"-")[1])
        except (IndexError, ValueError):
            return None

    def is_block(self, ssz: bytes) -> bool:
        return self.block_slot(ssz) is not None

    def missing_roots(self) -> list[bytes]:
        return []

    def finalized_slot(self) -> int:
        return self.finalized_epoch * SLOTS_PER_EPOCH

    async def validate_gossip(self, topic: str, data: bytes) -> GossipVerdict:
        self.gossip_seen.append((topic, data))
        return GossipVerdict.REJECT if data.startswith(b"BAD") else GossipVerdict.ACCEPT


def _check_protocol() -> None:
    # Fail at import if MemoryChain drifts from the Protocol's method set.
    assert isinstance(MemoryChain(), ChainView)


_check_protocol()
