"""The adapter from the chain layer (`beacon.chain.Chain`) to p2p's `ChainView`.

This is the one module of beacon/p2p that imports the chain and the state transition:
the rest of p2p sees blocks only as SSZ bytes. The chain never imports p2p.

Gossip validation (p2p-interface.md v0.8.3, "Topics"; docs/interop.md "Gossip validation"):

* beacon_block: REJECT what does not decode; IGNORE a block we have (seen), one whose slot
  starts more than GOSSIP_CLOCK_DISPARITY after our clock (future), one at or before the
  finalized epoch's start slot (conflicts with finality), and one whose parent we lack (the
  chain holds it; sync looks the parent up). Everything else is imported in full through
  the chain, which checks the proposer signature (and every other rule); ACCEPT only if
  the import succeeds, REJECT if the state transition refuses it.
* beacon_attestation: REJECT what does not decode, does not match its committee, or whose
  aggregate signature fails (checked on the target checkpoint state, as fork choice does);
  IGNORE votes for blocks we do not have (the chain holds them; sync looks the block up),
  votes for blocks below finality and attestations whose slot has not started. ACCEPTed
  attestations go to the chain's fork choice.
* voluntary_exit / proposer_slashing / attester_slashing: `process_*` of the state
  transition on a copy of the head state (signatures checked on the spot); REJECT on any
  failure, IGNORE repeats, ACCEPT otherwise. The chain has no operation pool, so accepted
  operations are kept in a bounded pool here and passed to `on_operation` callbacks.

Everything here runs synchronously on the trio loop (the state transition is CPU-bound
Python). `import_blocks` yields between blocks so heartbeats and req/resp keep running.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Callable, Sequence

import trio

from beacon.chain import Chain, Status
from beacon.crypto import bls
from beacon.ssz import DecodeError, decode
from beacon.state import (
    StateTransitionError, compute_start_slot_of_epoch, get_attestation_data_slot, get_indexed_attestation,
    is_valid_indexed_attestation, process_attester_slashing, process_proposer_slashing, process_voluntary_exit,
)
from beacon.state.slots import process_slots

from .constants import (
    TOPIC_ATTESTER_SLASHING, TOPIC_BEACON_ATTESTATION, TOPIC_BEACON_BLOCK, TOPIC_PROPOSER_SLASHING,
    TOPIC_VOLUNTARY_EXIT,
)
from .interface import BlockAtSlot, Checkpoint, GossipVerdict, ImportOutcome, ImportResult

log = logging.getLogger(__name__)

# How far ahead of our clock a gossiped block's slot may start and still be judged now.
# v0.8.3 has no number; later spec versions call it MAXIMUM_GOSSIP_CLOCK_DISPARITY = 500 ms.
GOSSIP_CLOCK_DISPARITY = 0.5
# Blocks per signature batch in range sync (one multi-pairing each; see import_blocks).
SEGMENT_BLOCKS = 16
ZERO_ROOT = b"\x00" * 32
# Bounds on what the adapter remembers.
MAX_OPERATIONS = 1024  # per topic
MAX_WANTED_ROOTS = 256
MAX_CHECKPOINT_STATES = 8

OperationCallback = Callable[[str, Any], None]

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
        self.clock = clock
        self.clock_disparity = clock_disparity
        self.config = chain.config
        self.types = chain.types
        self._null_block = self.types.BeaconBlock().serialize()  # the spec's "SSZ null"
        self._fork_cache: tuple[bytes, bytes] | None = None  # (head root, fork version)
        # Roots voted for by gossip attestations we could not judge yet (the chain holds
        # the attestations; sync fetches the blocks).
        self._wanted: OrderedDict[bytes, None] = OrderedDict()
        self._checkpoint_states: OrderedDict[tuple[int, bytes], Any] = OrderedDict()
        self.operations: dict[str, OrderedDict[bytes, Any]] = {
            t: OrderedDict() for t in (TOPIC_VOLUNTARY_EXIT, TOPIC_PROPOSER_SLASHING, TOPIC_ATTESTER_SLASHING)
        }
        self.on_operation: list[OperationCallback] = []

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
        return compute_start_slot_of_epoch(int(self.chain.finalized_checkpoint.epoch), cfg=self.config)

    def head(self) -> tuple[bytes, int]:
        h = self.chain.head
        return h.root, h.slot

    def checkpoint_root_at_epoch(self, epoch: int) -> bytes | None:
        start = compute_start_slot_of_epoch(epoch, cfg=self.config)
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
        head_block_root = bytes(head_block_root)
        info = self.chain.db.get_block_info(head_block_root)
        if info is None:
            return None
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

    async def blocks_by_root(self, roots: Sequence[bytes]) -> Sequence[bytes]:
        out = []
        for r in roots:
            raw = self._block_bytes(bytes(r))
            out.append(raw if raw is not None else self._null_block)
        return out

    # -- importing -----------------------------------------------------------------------

    def block_slot(self, ssz: bytes) -> int | None:
        # BeaconBlock's first field is `slot: uint64`, so the first 8 bytes are the slot
        # (a fixed SSZ layout fact); the minimum size rules out obvious junk.
        if len(ssz) < self.types.BeaconBlock.min_size():
            return None
        return int.from_bytes(ssz[:8], "little")

    def block_identity(self, ssz: bytes) -> tuple[int, bytes] | None:
        """(slot, signing root) of an SSZ block, None if it does not decode."""
        try:
            block = self._decode_block(ssz)
        except DecodeError:
            return None
        return int(block.slot), block.signing_root()

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
        in a worker thread (the pairing library releases the GIL), then commit.

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
                for start in range(0, len(run) + SEGMENT_BLOCKS, SEGMENT_BLOCKS):
                    part = run[start:start + SEGMENT_BLOCKS]
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
        for r in list(self._wanted):
            if self.chain.has_block(r):
                del self._wanted[r]
            elif r not in roots:
                roots.append(r)
        return roots

    def _want(self, root: bytes) -> None:
        self._wanted[root] = None
        self._wanted.move_to_end(root)
        while len(self._wanted) > MAX_WANTED_ROOTS:
            self._wanted.popitem(last=False)

    # -- gossip ---------------------------------------------------------------------------

    async def validate_gossip(self, topic: str, data: bytes) -> GossipVerdict:
        if topic == TOPIC_BEACON_BLOCK:
            return self.validate_block(data)[0]
        if topic == TOPIC_BEACON_ATTESTATION:
            return self.validate_attestation(data)
        if topic in self.operations:
            return self.validate_operation(topic, data)
        return GossipVerdict.REJECT  # not an interop topic

    def slot_start(self, slot: int) -> float:
        return self.chain.store.genesis_time + slot * self.config.SECONDS_PER_SLOT

    def validate_block(self, data: bytes) -> tuple[GossipVerdict, ImportOutcome | None]:
        """The verdict, and what the import did (None if the block was not imported)."""
        try:
            block = self._decode_block(data)
        except DecodeError as e:
            log.debug("gossip block does not decode: %s", e)
            return GossipVerdict.REJECT, None
        slot = int(block.slot)
        root = block.signing_root()
        if self.chain.has_block(root):
            return GossipVerdict.IGNORE, ImportOutcome(ImportResult.KNOWN, slot, root)  # seen
        now = self.clock()
        if self.slot_start(slot) > now + self.clock_disparity:
            return GossipVerdict.IGNORE, ImportOutcome(ImportResult.FUTURE, slot, root, "from the future")
        if slot <= self.finalized_slot() and int(self.chain.finalized_checkpoint.epoch) > 0:
            return GossipVerdict.IGNORE, ImportOutcome(ImportResult.IGNORED, slot, root, "conflicts with finality")
        self.chain.on_tick(now)
        outcome = self._import_block(block)
        if outcome.result is ImportResult.IMPORTED:
            return GossipVerdict.ACCEPT, outcome
        if outcome.result is ImportResult.INVALID:
            log.info("invalid gossip block 0x%s at slot %d: %s", root.hex()[:12], slot, outcome.reason)
            return GossipVerdict.REJECT, outcome
        return GossipVerdict.IGNORE, outcome

    def _target_state(self, epoch: int, root: bytes) -> Any:
        """The target checkpoint state (0_fork-choice.md on_attestation), cached."""
        key = (epoch, root)
        state = self._checkpoint_states.get(key)
        if state is None:
            base = self.chain.state_at_block(root)
            start = compute_start_slot_of_epoch(epoch, cfg=self.config)
            if base.slot < start:
                state = base.copy()
                process_slots(state, start)
            else:
                state = base  # read-only use below
            self._checkpoint_states[key] = state
            while len(self._checkpoint_states) > MAX_CHECKPOINT_STATES:
                self._checkpoint_states.popitem(last=False)
        return state

    def validate_attestation(self, data: bytes) -> GossipVerdict:
        try:
            att = decode(self.types.Attestation, data)
        except DecodeError:
            return GossipVerdict.REJECT
        vote = bytes(att.data.beacon_block_root)
        target = att.data.target
        target_root = bytes(target.root)
        store_blocks = self.chain.store.blocks
        if vote not in store_blocks or target_root not in store_blocks:
            if self.chain.has_block(vote):
                return GossipVerdict.IGNORE  # votes below finality: useless, not wrong
            # Cannot judge it yet: the chain holds it until the block arrives; sync asks for it.
            self.chain.import_attestation(att)
            self._want(vote if vote not in store_blocks else target_root)
            return GossipVerdict.IGNORE
        epoch = int(target.epoch)
        if self.slot_start(compute_start_slot_of_epoch(epoch, cfg=self.config)) > self.clock() + self.clock_disparity:
            return GossipVerdict.IGNORE  # target epoch has not started
        try:
            state = self._target_state(epoch, target_root)
            att_slot = get_attestation_data_slot(state, att.data)
            indexed = get_indexed_attestation(state, att)
        except (AssertionError, IndexError, ValueError, StateTransitionError) as e:
            log.debug("gossip attestation does not match its committee: %s", e)
            return GossipVerdict.REJECT
        if self.slot_start(att_slot) > self.clock() + self.clock_disparity:
            return GossipVerdict.IGNORE  # from the future
        if not is_valid_indexed_attestation(state, indexed):
            return GossipVerdict.REJECT
        # Checked just above: fork choice need not verify the signature again.
        with bls.enabled(False):
            res = self.chain.import_attestation(att)
        if res.status is Status.INVALID:
            return GossipVerdict.REJECT
        return GossipVerdict.ACCEPT

    def validate_operation(self, topic: str, data: bytes) -> GossipVerdict:
        typ, process = {
            TOPIC_VOLUNTARY_EXIT: (self.types.VoluntaryExit, process_voluntary_exit),
            TOPIC_PROPOSER_SLASHING: (self.types.ProposerSlashing, process_proposer_slashing),
            TOPIC_ATTESTER_SLASHING: (self.types.AttesterSlashing, process_attester_slashing),
        }[topic]
        try:
            op = decode(typ, data)
        except DecodeError:
            return GossipVerdict.REJECT
        key = op.hash_tree_root()
        pool = self.operations[topic]
        if key in pool:
            return GossipVerdict.IGNORE
        state = self.chain.head_state()  # a copy: process_* mutates it
        try:
            process(state, op)  # outside a block, signatures are verified on the spot
        except (StateTransitionError, AssertionError, IndexError, ValueError) as e:
            log.debug("gossip %s rejected: %s", topic, e)
            return GossipVerdict.REJECT
        pool[key] = op
        while len(pool) > MAX_OPERATIONS:
            pool.popitem(last=False)
        for cb in list(self.on_operation):
            try:
                cb(topic, op)
            except Exception:
                log.exception("operation callback failed")
        return GossipVerdict.ACCEPT
