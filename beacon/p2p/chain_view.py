"""The adapter from the chain layer (`beacon.chain.Chain`) to p2p's `ChainView`.

This is the one module of beacon/p2p that imports the chain: the rest of p2p sees blocks
only as SSZ bytes. Gossip is verified by the chain (`beacon.chain.gossip`): p2p asks the
chain, the chain asks the state transition. The chain never imports p2p.

`import_blocks` yields between segments so heartbeats and req/resp keep running.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence

import trio

from beacon.chain import Chain, Status
from beacon.chain.gossip import GOSSIP_CLOCK_DISPARITY, GossipValidator, Verdict
from beacon.ssz import DecodeError, decode

from .constants import (
    TOPIC_ATTESTER_SLASHING, TOPIC_BEACON_ATTESTATION, TOPIC_BEACON_BLOCK, TOPIC_PROPOSER_SLASHING,
    TOPIC_VOLUNTARY_EXIT,
)
from .interface import BlockAtSlot, Checkpoint, GossipVerdict, ImportOutcome, ImportResult

log = logging.getLogger(__name__)

# Blocks per signature batch in range sync (one multi-pairing each; see import_blocks).
SEGMENT_BLOCKS = 16
# The first and last segments of a sync batch are shorter: the first is prepared while the
# verifier has nothing to do, and the last is verified while the loop has nothing to prepare.
EDGE_SEGMENT_BLOCKS = 4


def segment_bounds(n: int) -> list[tuple[int, int]]:
    """[start, end) of the segments of a run of `n` blocks: short at both edges."""
    if n <= 2 * EDGE_SEGMENT_BLOCKS:
        return [(i, min(i + EDGE_SEGMENT_BLOCKS, n)) for i in range(0, n, EDGE_SEGMENT_BLOCKS)]
    bounds = [(0, EDGE_SEGMENT_BLOCKS)]
    start, last = EDGE_SEGMENT_BLOCKS, n - EDGE_SEGMENT_BLOCKS
    while start < last:
        end = min(start + SEGMENT_BLOCKS, last)
        bounds.append((start, end))
        start = end
    bounds.append((last, n))
    return bounds

ZERO_ROOT = b"\x00" * 32
_OPERATION_TOPICS = {
    TOPIC_VOLUNTARY_EXIT: "voluntary_exit",
    TOPIC_PROPOSER_SLASHING: "proposer_slashing",
    TOPIC_ATTESTER_SLASHING: "attester_slashing",
}
_BLOCK_OUTCOMES = {
    "imported": ImportResult.IMPORTED, "seen": ImportResult.KNOWN, "known": ImportResult.KNOWN,
    "future": ImportResult.FUTURE, "held": ImportResult.FUTURE, "unknown_parent": ImportResult.UNKNOWN_PARENT,
    "finalized": ImportResult.IGNORED, "ignored": ImportResult.IGNORED, "invalid": ImportResult.INVALID,
}
_VERDICTS = {Verdict.ACCEPT: GossipVerdict.ACCEPT, Verdict.REJECT: GossipVerdict.REJECT,
             Verdict.IGNORE: GossipVerdict.IGNORE}

_STATUS_TO_RESULT = {
    Status.IMPORTED: ImportResult.IMPORTED,
    Status.KNOWN: ImportResult.KNOWN,
    Status.IGNORED: ImportResult.IGNORED,
    Status.INVALID: ImportResult.INVALID,
}


class _SegmentJob:
    """One range-sync segment in flight: its blocks, the prepared segment, its verdict."""

    def __init__(self, part: list[tuple[int, Any]], segment: Any) -> None:
        self.part = part
        self.segment = segment
        self.ok = False
        self.done = trio.Event()


class ChainAdapter:
    """`ChainView` over a `Chain`. `clock` gives Unix time (tests and the benchmark
    pass a fixed clock so a pre-built chain is never 'from the future')."""

    def __init__(self, chain: Chain, clock: Callable[[], float] = time.time,
                 clock_disparity: float = GOSSIP_CLOCK_DISPARITY) -> None:
        self.chain = chain
        self.clock = clock  # the store's time when a sync batch imports
        self.config = chain.config
        self.types = chain.types
        self._null_block = self.types.BeaconBlock().serialize()  # the spec's "SSZ null"
        self._fork_cache: tuple[bytes, bytes] | None = None  # (head root, fork version)
        self.gossip = GossipValidator(chain, clock=clock, clock_disparity=clock_disparity)
        # BeaconBlock's layout: a fixed part (min_size counts the body as its 4-byte offset)
        # whose one offset, to the body at `body_offset_at`, points right behind it.
        self._block_fixed = self.types.BeaconBlock.min_size()
        self._body_offset_at = 8 + 32 + 32  # after slot, parent_root, state_root

    @property
    def on_operation(self) -> list[Callable[[str, Any], None]]:
        """Callbacks for gossip operations the chain accepted: (kind, operation)."""
        return self.gossip.on_operation

    # -- status --------------------------------------------------------------------------

    def fork_version(self) -> bytes:
        head = self.chain.head.root
        if self._fork_cache is None or self._fork_cache[0] != head:
            # state_at_block, not head_state(): no copy needed to read one field
            state = self.chain.state_at_block(head)
            self._fork_cache = (head, bytes(state.fork.current_version))
        return self._fork_cache[1]

    def finalized_checkpoint(self) -> Checkpoint:
        cp = self.chain.finalized_checkpoint
        epoch = int(cp.epoch)
        # The genesis Store's checkpoint holds the genesis block root; on the wire 2019
        # clients send the zero root for epoch 0 (what state.finalized_checkpoint holds).
        return Checkpoint(epoch, bytes(cp.root) if epoch > 0 else ZERO_ROOT)

    def finalized_slot(self) -> int:
        return self.gossip.finalized_slot()

    def seconds_per_epoch(self) -> float:
        return float(self.config.SECONDS_PER_SLOT * self.config.SLOTS_PER_EPOCH)

    def block_name(self, root: bytes) -> bytes | None:
        return self.chain.resolve_block_root(root)

    def null_block(self) -> bytes:
        return self._null_block

    def head(self) -> tuple[bytes, int]:
        h = self.chain.head
        return h.root, h.slot

    def checkpoint_root_at_epoch(self, epoch: int) -> bytes | None:
        start = epoch * self.config.SLOTS_PER_EPOCH  # compute_start_slot_of_epoch
        if start > self.chain.head.slot:
            return None
        db = self.chain.db
        for slot in range(start, -1, -1):  # the latest canonical block at or before start
            root = db.get_canonical_root(slot)
            if root is not None:
                return root
        return None

    # -- serving -----------------------------------------------------------------------

    def _block_bytes(self, root: bytes) -> bytes | None:
        raw = self.chain.db.get_block_bytes(root)
        if raw is not None:
            return raw
        block = self.chain.get_block(root)
        return None if block is None else block.serialize()

    async def blocks_by_range(self, head_block_root: bytes, start_slot: int, count: int,
                              step: int) -> Sequence[BlockAtSlot] | None:
        resolved = self.chain.resolve_block_root(head_block_root)
        info = None if resolved is None else self.chain.db.get_block_info(resolved)
        if resolved is None or info is None:
            return None
        head_block_root = resolved
        # Nothing above the requested head: a canonical root below our head must not
        # pull in our later blocks.
        if start_slot > info.slot:
            return []
        count = min(count, (info.slot - start_slot) // step + 1)
        blocks = self.chain.get_blocks_by_range(start_slot, count, step, head_root=head_block_root)
        out = []
        for b in blocks:
            raw = self._block_bytes(b.signing_root())
            out.append(BlockAtSlot(int(b.slot), raw if raw is not None else b.serialize()))
        return out

    async def blocks_by_root(self, roots: Sequence[bytes]) -> Sequence[bytes | None]:
        out = []
        for r in roots:
            resolved = self.chain.resolve_block_root(r)
            out.append(None if resolved is None else self._block_bytes(resolved))
        return out

    # -- importing -----------------------------------------------------------------------

    def block_slot(self, ssz: bytes) -> int | None:
        # BeaconBlock's first field is `slot: uint64`, so the first 8 bytes are the slot; its
        # only offset must point to the end of its fixed part (SSZ layout facts). That
        # tells a block from a block list, whose bytes start with an offset table.
        if len(ssz) < self.types.BeaconBlock.min_size():
            return None
        at = self._body_offset_at
        if int.from_bytes(ssz[at:at + 4], "little") != self._block_fixed:
            return None
        return int.from_bytes(ssz[:8], "little")

    def block_identity(self, ssz: bytes) -> tuple[int, bytes, bytes] | None:
        """(slot, signing root, hash_tree_root) of an SSZ block, None if it does not decode."""
        try:
            block = self._decode_block(ssz)
        except DecodeError:
            return None
        return int(block.slot), block.signing_root(), bytes(block.hash_tree_root())

    def _decode_block(self, ssz: bytes) -> Any:
        return decode(self.types.BeaconBlock, ssz)

    def _import_block(self, block: Any) -> ImportOutcome:
        return self._outcome(block, self.chain.import_block(block))

    def _outcome(self, block: Any, res: Any) -> ImportOutcome:
        slot = int(block.slot)
        if res.status is Status.HELD:
            # Held for its parent, or for its slot to come (the chain retries on_tick).
            parent_known = self.chain.has_block(bytes(block.parent_root))
            result = ImportResult.FUTURE if parent_known else ImportResult.UNKNOWN_PARENT
        else:
            result = _STATUS_TO_RESULT[res.status]
        return ImportOutcome(result, slot, res.root, res.reason)

    async def import_blocks(self, blocks: Sequence[bytes]) -> Sequence[ImportOutcome]:
        """Import a sync batch in segments: transitions here, one signature batch per segment
        checked in the signature worker process (awaited from a thread), then commit.

        A segment is at most SEGMENT_BLOCKS long so the loop (gossip heartbeat, req/resp)
        is never held for more than a few dozen milliseconds at a time.
        """
        self.chain.on_tick(self.clock())  # store time current, so recent blocks are not "future"
        out: list[ImportOutcome | None] = [None] * len(blocks)
        run: list[tuple[int, Any]] = []  # consecutive decodable blocks, imported as segments

        async def flush() -> None:
            # Pipelined: segment k's signatures are checked in a worker thread while segment
            # k+1 is prepared on top of k's (not yet trusted) post-state; k commits first.
            async def verify(job: _SegmentJob) -> None:
                job.ok = await trio.to_thread.run_sync(job.segment.verify) if job.segment.items else True
                job.done.set()

            async with trio.open_nursery() as nursery:
                previous: _SegmentJob | None = None
                trusted = True  # once a segment fails, those built on it go the slow way too
                for start, end in segment_bounds(len(run)) + [(len(run), len(run))]:
                    part = run[start:end]
                    current = None
                    if part:
                        after = previous.segment if previous is not None else None
                        current = _SegmentJob(part, self.chain.prepare_segment([b for _, b in part], after=after))
                        nursery.start_soon(verify, current)
                    if previous is not None:
                        await previous.done.wait()
                        trusted = trusted and previous.ok
                        for (i, block), res in zip(previous.part, self.chain.commit_segment(previous.segment, trusted)):
                            out[i] = self._outcome(block, res)
                    previous = current
                    await trio.sleep(0)
            run.clear()

        for i, ssz in enumerate(blocks):
            if ssz == self._null_block:
                out[i] = ImportOutcome(ImportResult.EMPTY)
                continue
            try:
                run.append((i, self._decode_block(ssz)))
            except DecodeError as e:
                await flush()
                out[i] = ImportOutcome(ImportResult.INVALID, reason=f"does not decode: {e}")
        await flush()
        return [o for o in out if o is not None]

    def missing_roots(self) -> list[bytes]:
        roots = list(self.chain.missing_parents())
        roots += [r for r in self.gossip.wanted_roots() if r not in roots]
        return roots

    # -- gossip (verified by the chain) -------------------------------------------------------

    async def validate_gossip(self, topic: str, data: bytes) -> GossipVerdict:
        if topic == TOPIC_BEACON_BLOCK:
            return self.validate_block(data)[0]
        if topic == TOPIC_BEACON_ATTESTATION:
            return _VERDICTS[self.gossip.validate_attestation(data)]
        kind = _OPERATION_TOPICS.get(topic)
        if kind is not None:
            return _VERDICTS[self.gossip.validate_operation(kind, data)]
        return GossipVerdict.REJECT  # not an interop topic

    def validate_block(self, data: bytes) -> tuple[GossipVerdict, ImportOutcome | None]:
        """The verdict, and what became of the block (None if it did not decode)."""
        v = self.gossip.validate_block(data)
        if v.slot is None:
            return _VERDICTS[v.verdict], None
        return _VERDICTS[v.verdict], ImportOutcome(_BLOCK_OUTCOMES[v.outcome], v.slot, v.root, v.reason)
