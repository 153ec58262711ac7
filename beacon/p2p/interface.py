"""The narrow interface between the p2p layer and the chain.

p2p never imports the chain layer (ARCHITECTURE.md: arrows point down, chain never
imports p2p). Instead the node wires in an object that satisfies `ChainView`. Blocks
cross this boundary as *raw SSZ bytes* of `BeaconBlock`, so the p2p layer needs no
knowledge of block types: the chain decodes and validates them, and the wire layer only
frames and bounds them. The only types p2p decodes itself are the small req/resp
messages in `beacon.p2p.messages`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class Checkpoint:
    """A (epoch, root) pair as the chain reports its finalized checkpoint."""

    epoch: int
    root: bytes  # 32 bytes


@dataclass(frozen=True)
class BlockAtSlot:
    """One block of a by-range answer: its slot and its SSZ-encoded `BeaconBlock`."""

    slot: int
    ssz: bytes


class ImportResult(enum.Enum):
    """What the chain did with a block handed to it by p2p."""

    IMPORTED = "imported"  # valid and stored
    KNOWN = "known"  # already had it; harmless
    UNKNOWN_PARENT = "unknown_parent"  # cannot judge yet: sync should fetch ancestors
    FUTURE = "future"  # its slot has not started yet; the chain holds it until then
    IGNORED = "ignored"  # maybe valid but useless (conflicts with finality); nobody blamed
    EMPTY = "empty"  # the SSZ "null" BeaconBlock: the peer said it does not have this block
    INVALID = "invalid"  # bad bytes or failed validation: the sender is scored


@dataclass(frozen=True)
class ImportOutcome:
    """One block's fate in `ChainView.import_blocks`, with what sync needs to know of it."""

    result: ImportResult
    slot: int | None = None  # None when the bytes did not decode
    root: bytes | None = None  # signing root, None when the bytes did not decode
    reason: str = ""


class GossipVerdict(enum.Enum):
    """A gossip validation result: ACCEPT is forwarded, REJECT is dropped and scored,
    IGNORE is dropped without blaming the sender (e.g. we cannot judge it yet)."""

    ACCEPT = "accept"
    REJECT = "reject"
    IGNORE = "ignore"


@runtime_checkable
class ChainView(Protocol):
    """Everything the p2p layer asks of the chain. All methods are cheap or async.

    Implementations must be safe to call from trio tasks; async methods may do I/O
    (database reads) or hand work to the chain's import pipeline.
    """

    def fork_version(self) -> bytes:
        """The current `Fork.current_version` of the head state (4 bytes)."""
        ...

    def finalized_checkpoint(self) -> Checkpoint:
        """The latest finalized checkpoint this node knows. At genesis: epoch 0 and
        the zero root, as in the spec's genesis `Store`."""
        ...

    def head(self) -> tuple[bytes, int]:
        """(head block root, head slot) from fork choice."""
        ...

    def checkpoint_root_at_epoch(self, epoch: int) -> bytes | None:
        """The root of our canonical chain's checkpoint block for `epoch` (the latest
        block at or before the epoch's start slot), or None if the epoch is beyond our
        head. Used for the Hello rule: 'is the peer's finalized (root, epoch) in our
        chain at the expected epoch?' (p2p stays free of SLOTS_PER_EPOCH)."""
        ...

    async def blocks_by_range(
        self, head_block_root: bytes, start_slot: int, count: int, step: int
    ) -> Sequence[BlockAtSlot] | None:
        """Blocks at slots start_slot, start_slot+step, ... (at most `count`) on the
        chain ending at `head_block_root` (either of its names, see blocks_by_root),
        skipping empty slots, in slot order. None if `head_block_root` is unknown to us."""
        ...

    async def blocks_by_root(self, roots: Sequence[bytes]) -> Sequence[bytes | None]:
        """The SSZ of each requested block, same order and length; None where unknown.
        A root may be the block's signing_root (as v0.8.3 says) or its hash_tree_root
        (as some 2019 peers named blocks)."""
        ...

    def null_block(self) -> bytes:
        """The SSZ of the default (all-zero) `BeaconBlock`: the spec's "SSZ null
        BeaconBlock", which a v0.8.3 by-root answer puts where a block is unknown."""
        ...

    def block_name(self, root: bytes) -> bytes | None:
        """The signing root of the block we know as `root`, which may be its signing_root
        or its hash_tree_root; None if we do not know it."""
        ...

    def seconds_per_epoch(self) -> float:
        """How often peers re-exchange Hello (p2p stays free of the presets)."""
        ...

    async def import_blocks(self, blocks: Sequence[bytes]) -> Sequence[ImportOutcome]:
        """Hand SSZ-encoded blocks (in order) to the import pipeline; one outcome each.
        Implementations yield to the event loop between blocks (imports are CPU-bound)."""
        ...

    def block_slot(self, ssz: bytes) -> int | None:
        """The slot of an SSZ BeaconBlock without a full decode, None if the bytes do not
        have a BeaconBlock's layout (lets sync check a by-range answer before importing
        anything, and tells a block from a block list in a 2019 peer's answer)."""
        ...

    def missing_roots(self) -> list[bytes]:
        """Block roots the chain waits for: parents of held blocks and blocks voted for
        by held attestations. Sync asks peers for them with RecentBeaconBlocks."""
        ...

    def finalized_slot(self) -> int:
        """The slot of our finalized checkpoint's epoch start: where a range sync restarts
        when our head turns out not to be on the peer's chain."""
        ...

    async def validate_gossip(self, topic: str, data: bytes) -> GossipVerdict:
        """Decide whether a gossip payload on `topic` may be forwarded. The chain
        decodes it; p2p has already bounded its size."""
        ...
