"""The chain service: block and attestation import, persistence, fork choice, events.

    chain = Chain.open(datadir, genesis_state)          # fresh datadir or restart
    result = chain.import_block(block)                  # ImportResult(status, root, reason)
    result = chain.import_attestation(attestation)
    chain.on_tick(unix_time)                            # retries held future blocks/attestations
    chain.head  -> HeadInfo(root, slot, state_root)     chain.head_state()
    chain.get_blocks_by_range(start, count, step)       chain.get_blocks_by_root(roots)
    chain.events.subscribe("head" | "justified" | "finalized" | "block" | "attestation", callback)
    chain.heads()  -> [(root, slot)]: the fork-choice leaves (tips of every branch)

Block pipeline, cheapest checks first: already known / known bad -> parent unknown (hold,
bounded, retried when the parent is imported) -> from the future (hold until its slot) ->
conflicts with finality (ignore) -> state transition on the parent's state (BLS, state root) ->
ONE write batch (block, info, state when due, canonical index, head/justified/finalized,
fork-choice votes of the block's attestations, pruning at finality) -> events. The chain never
imports p2p: p2p calls in and subscribes to events.

States: all non-finalized post-states can be rebuilt; a post-state is written to disk for the
first block of each epoch on its branch (and for the finalized block), the rest are held in a
bounded in-memory cache and rebuilt by replaying stored blocks from the nearest stored
ancestor state (signatures and state roots were checked at import).
"""
from __future__ import annotations

import enum
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

from beacon.chain import fork_choice as fc
from beacon.chain.errors import (
    ChainError, FinalizedConflict, ForkChoiceError, FutureAttestation, FutureBlock, InvalidAttestation,
    UnknownParent, UnknownTarget,
)
from beacon.db import BeaconDB, BlockInfo, CorruptStore, Head

log = logging.getLogger("beacon.chain")

# Keep a stored snapshot state every this many epochs below finality (others are deleted).
SNAPSHOT_EPOCHS = 8
# A run of at least this many blocks starts the signature worker process (range sync);
# single gossip blocks and parent lookups never need it.
SEGMENT_WORKER_BLOCKS = 4


class Status(enum.Enum):
    IMPORTED = "imported"
    KNOWN = "known"  # already imported (or the genesis block)
    HELD = "held"  # waits for its parent / voted block / its slot; retried automatically
    INVALID = "invalid"  # breaks a rule: score the sender
    IGNORED = "ignored"  # valid maybe, but useless (conflicts with finality, too old)


@dataclass
class ImportResult:
    status: Status
    root: bytes
    reason: str = ""
    # Blocks imported because of this call (this one plus held descendants), in order.
    imported: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in (Status.IMPORTED, Status.KNOWN)


@dataclass(frozen=True)
class HeadInfo:
    root: bytes
    slot: int
    state_root: bytes


@dataclass(frozen=True)
class HeadEvent:
    root: bytes
    slot: int
    previous_root: bytes
    reorg_depth: int  # 0 when the new head extends the old one
    # A reorg's depth in slots: old head slot - common ancestor slot (0 without a reorg).
    reorg_slots: int = 0


@dataclass
class ReorgStats:
    """Head moves to a block that does not descend from the old head, since the node started."""
    count: int = 0
    last_depth: int = 0  # slots: old head slot - common ancestor slot
    max_depth: int = 0
    last_slot: int = 0  # the new head's slot at the latest reorg

    def record(self, ev: HeadEvent) -> None:
        if not ev.reorg_depth:
            return
        self.count += 1
        self.last_depth = ev.reorg_slots
        self.max_depth = max(self.max_depth, ev.reorg_slots)
        self.last_slot = ev.slot
        log.info("reorg: head 0x%s at slot %d replaces 0x%s, depth %d slot(s) (%d block(s) left the canonical chain)",
                 ev.root.hex()[:12], ev.slot, ev.previous_root.hex()[:12], ev.reorg_slots, ev.reorg_depth)


class ChainEvents:
    """Callbacks by event name; a failing callback is logged and never breaks the import."""

    NAMES = ("head", "justified", "finalized", "block", "attestation")

    def __init__(self) -> None:
        self._subs: dict[str, list[Callable[[Any], None]]] = {n: [] for n in self.NAMES}

    def subscribe(self, name: str, callback: Callable[[Any], None]) -> None:
        if name not in self._subs:
            raise ValueError(f"unknown chain event {name!r}; one of {self.NAMES}")
        self._subs[name].append(callback)

    def emit(self, name: str, payload: Any) -> None:
        for cb in list(self._subs[name]):
            try:
                cb(payload)
            except Exception:  # noqa: BLE001 - a subscriber bug must not undo an import
                log.exception("chain event %s callback failed", name)


class _StateCache(OrderedDict):
    """store.block_states: a bounded LRU (evicted states are rebuilt by replay on demand)."""

    def __init__(self, limit: int, pinned: Callable[[], set]) -> None:
        super().__init__()
        self.limit = limit
        self._pinned = pinned

    def get(self, key: Any, default: Any = None) -> Any:  # type: ignore[override]
        if key in self:
            self.move_to_end(key)
            return super().__getitem__(key)
        return default

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if len(self) > self.limit:
            pinned = self._pinned()
            for k in list(self.keys()):
                if len(self) <= self.limit:
                    break
                if k not in pinned and k != key:
                    super().__delitem__(k)


@dataclass
class SegmentItem:
    """One block of a segment: its post-state is kept only where the store needs it."""

    root: bytes
    block: Any
    post: Any  # None: rebuilt by replay if ever asked for (store.state_loader)
    justified: Any  # the post-state's checkpoints, for fork choice and the block's info
    finalized: Any


@dataclass
class Segment:
    """A run of blocks transitioned with their signatures deferred (Chain.prepare_segment)."""

    known: list["ImportResult"]  # leading blocks we already have
    items: list[SegmentItem]  # not trusted before verify()
    rest: list[Any]  # blocks that go through import_block one by one
    batch: Any  # the SignatureBatch of every block in items

    def verify(self) -> bool:
        """The one signature check for the whole segment, in the signature worker process
        (beacon.crypto.batch); blocking, thread-safe."""
        from beacon.crypto.batch import verify_sets

        return verify_sets([p.sset for p in self.batch.sets])


class Chain:
    def __init__(self, db: BeaconDB, store: fc.Store, genesis_root: bytes, *,
                 clock: Callable[[], float] = time.time, max_pending_blocks: int = 256,
                 max_pending_attestations: int = 4096) -> None:
        self.db = db
        self.store = store
        self.genesis_root = genesis_root
        self.config = store.config
        self.types = store.justified_checkpoint.types
        self.clock = clock
        self.events = ChainEvents()
        self.max_pending_blocks = max_pending_blocks
        self.max_pending_attestations = max_pending_attestations
        # hash_tree_root -> block (parent unknown or from the future). Keyed by the full root,
        # which covers the signature: a forged copy must not displace the real block.
        self._pending_blocks: "OrderedDict[bytes, Any]" = OrderedDict()
        self._pending_atts: "OrderedDict[bytes, Any]" = OrderedDict()  # data root+sig -> attestation
        # Held attestations whose signature was already checked (gossip validates before it
        # imports, with BLS off): their retry must not pay the pairing again. Nearly every
        # gossip attestation is held once, since it cannot count before its slot is over.
        self._pending_verified: set[bytes] = set()
        self._bad: "OrderedDict[bytes, str]" = OrderedDict()  # roots of blocks that failed the transition
        self.reorgs = ReorgStats()
        self.events.subscribe("head", self.reorgs.record)  # counted once the move is committed
        head = db.get_head()
        assert head is not None
        self._head = head
        self._defer_sync = False  # commit_segment: finality batches unsynced until its end
        self._sync_owed = False

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def open(cls, datadir: str | os.PathLike[str], genesis_state: Any, *, clock: Callable[[], float] = time.time,
             state_cache_size: int = 64, **kw: Any) -> "Chain":
        """A chain on `datadir`: stamped with this genesis when fresh, restored when not.

        Raises beacon.db.StoreError (WrongGenesis, SchemaTooNew, DatadirInUse, ...) when the
        datadir cannot be used; it is never overwritten.
        """
        # The genesis block's root, as get_genesis_store computes it; its store (a copy of the
        # state) is only built for a fresh datadir: a restart restores its own.
        genesis_root = bytes(genesis_state.types.BeaconBlock(state_root=genesis_state.hash_tree_root()).signing_root())
        db = BeaconDB(datadir, genesis_state.types, genesis_root)
        try:
            if db.get_head() is None:
                store = fc.get_genesis_store(genesis_state)
                genesis_block = store.blocks[genesis_root]
                with db.batch() as wb:
                    wb.put_block(genesis_root, genesis_block, _info(genesis_block, genesis_state.current_justified_checkpoint,
                                                                   genesis_state.finalized_checkpoint))
                    wb.put_state(genesis_root, genesis_state)
                    wb.set_canonical(genesis_block.slot, genesis_root)
                    wb.set_head(Head(genesis_root, genesis_block.slot))
                    wb.set_justified(store.justified_checkpoint)
                    wb.set_finalized(store.finalized_checkpoint)
            else:
                store = _restore_store(db, genesis_state)
            chain = cls(db, store, genesis_root, clock=clock, **kw)
            pinned_states = store.block_states
            store.block_states = _StateCache(state_cache_size, chain._pinned_roots)
            store.block_states.update(pinned_states)
            store.state_loader = chain._load_state
            chain.on_tick(clock())
            chain.update_head()  # after a restart: the votes on disk decide, as before the stop
            return chain
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        self.db.close()

    # --- queries ----------------------------------------------------------------------------------
    @property
    def head(self) -> HeadInfo:
        info = self.db.get_block_info(self._head.root)
        return HeadInfo(self._head.root, self._head.slot, info.state_root if info else b"")

    def head_state(self) -> Any:
        """The head block's post-state (a copy: callers may advance it)."""
        return self.state_at_block(self._head.root).copy()

    @property
    def justified_checkpoint(self) -> Any:
        return self.store.justified_checkpoint

    @property
    def finalized_checkpoint(self) -> Any:
        return self.store.finalized_checkpoint

    def current_slot(self) -> int:
        gt = self.store.genesis_time
        now = int(self.store.time)
        return 0 if now < gt else (now - gt) // self.config.SECONDS_PER_SLOT

    def has_block(self, root: bytes) -> bool:
        return root in self.store.blocks or self.db.has_block(root)

    def resolve_block_root(self, root: bytes) -> Optional[bytes]:
        """The signing root of a block we have, named by its signing root (the spec's
        name) or by its hash_tree_root (as some 2019 peers named blocks)."""
        root = bytes(root)
        if self.has_block(root):
            return root
        alias = self.db.get_block_alias(root)
        return alias if alias is not None and self.has_block(alias) else None

    def get_block(self, root: bytes) -> Optional[Any]:
        block = self.store.blocks.get(root)
        return block if block is not None else self.db.get_block(root)

    def get_blocks_by_root(self, roots: Iterable[bytes]) -> list[Any]:
        """The known blocks among `roots`, in the order asked (unknown ones are skipped)."""
        out = []
        for r in roots:
            b = self.get_block(bytes(r))
            if b is not None:
                out.append(b)
        return out

    def get_blocks_by_range(self, start_slot: int, count: int, step: int = 1,
                            head_root: Optional[bytes] = None) -> list[Any]:
        """Canonical blocks at slots start_slot, start_slot+step, ... (count slots), skipped slots omitted.

        With `head_root` (a peer's requested head), blocks of that chain are returned if we have it.
        """
        if count <= 0 or step <= 0:
            return []
        end = start_slot + count * step
        if head_root is not None and bytes(head_root) != self._head.root and bytes(head_root) in self.store.blocks:
            return self._range_on_branch(bytes(head_root), start_slot, end, step)
        out = []
        for slot, root in self.db.canonical_roots(start_slot, end):
            if (slot - start_slot) % step == 0:
                block = self.get_block(root)
                if block is not None:
                    out.append(block)
        return out

    def _range_on_branch(self, head_root: bytes, start: int, end: int, step: int) -> list[Any]:
        out = []
        root = head_root
        while True:
            block = self.get_block(root)
            if block is None or block.slot < start:
                break
            if block.slot < end and (block.slot - start) % step == 0:
                out.append(block)
            if block.slot == 0:
                break
            root = bytes(block.parent_root)
        return out[::-1]

    def missing_parents(self) -> list[bytes]:
        """Roots that held blocks wait for and nobody has sent (p2p may request them by root)."""
        held = {b.signing_root() for b in self._pending_blocks.values()}
        return sorted({bytes(b.parent_root) for b in self._pending_blocks.values()
                       if bytes(b.parent_root) not in held and not self.has_block(bytes(b.parent_root))})

    def state_at_block(self, root: bytes) -> Any:
        return self.store.block_state(root)

    def state_in_epoch_of(self, root: bytes) -> Any:
        """A post-state of this block's branch whose current epoch is the block's: the block's
        own when it is in memory, else its nearest such ancestor's (a segment keeps post-states
        only for epoch-start blocks), else the block's own rebuilt by replay. Committees and
        proposers of that epoch (what the slasher reads) are the same in all of them."""
        store = self.store
        block = store.blocks.get(root)
        if block is None:
            return self.state_at_block(root)
        spe = self.config.SLOTS_PER_EPOCH
        epoch = int(block.slot) // spe
        r, b = root, block
        while b is not None and int(b.slot) // spe == epoch:
            state = store.block_states.get(r)
            if state is not None:
                return state
            r = bytes(b.parent_root)
            b = store.blocks.get(r)
        return self.state_at_block(root)

    def heads(self) -> list[tuple[bytes, int]]:
        """(root, slot) of every block in fork choice without a child: the tip of each branch
        since finality, the head among them."""
        proto = self.store.proto
        return [(proto.roots[i], proto.slots[i]) for i in range(len(proto.roots)) if not proto.children[i]]

    # --- time ------------------------------------------------------------------------------------
    def on_tick(self, unix_time: float) -> list[ImportResult]:
        """Advance fork-choice time; retry held blocks/attestations whose time has come."""
        t = int(unix_time)
        if t > self.store.time:
            fc.on_tick(self.store, t)
        results: list[ImportResult] = []
        due = [r for r, b in self._pending_blocks.items() if self.has_block(bytes(b.parent_root))]
        for r in due:
            block = self._pending_blocks.pop(r, None)
            if block is not None:
                results.append(self.import_block(block))
        if self._pending_atts:
            for key in list(self._pending_atts):
                att = self._pending_atts.pop(key, None)
                if att is not None:
                    self._import_held_attestation(key, att)
        return results

    # --- block import --------------------------------------------------------------------------
    def import_block(self, block: Any) -> ImportResult:
        """Validate and import one block (and then any held descendants)."""
        now = self.clock()
        if int(now) > self.store.time:
            fc.on_tick(self.store, int(now))
        result = self._import_one(block)
        if result.status is Status.IMPORTED:
            self._import_held_children(result)
        return result

    def _import_held_children(self, result: ImportResult) -> None:
        """Held blocks whose parent just arrived, recursively; then held attestations."""
        queue = list(result.imported)
        while queue:
            parent = queue.pop(0)
            children = [r for r, b in self._pending_blocks.items() if bytes(b.parent_root) == parent]
            for r in children:
                child = self._pending_blocks.pop(r)
                sub = self._import_one(child)
                if sub.status is Status.IMPORTED:
                    result.imported.append(sub.root)
                    queue.append(sub.root)
        self._retry_attestations(set(result.imported))

    # --- runs of blocks (range sync) -----------------------------------------------------------
    def import_blocks(self, blocks: Sequence[Any]) -> list[ImportResult]:
        """Import a run of blocks with one signature check for the whole run.

        Results are in input order. Equivalent to import_block on each, only faster: see
        prepare_segment. Callers on an event loop can run segment.verify() in a worker thread.
        """
        segment = self.prepare_segment(blocks)
        return self.commit_segment(segment, segment.verify())

    def prepare_segment(self, blocks: Sequence[Any], after: Optional["Segment"] = None) -> "Segment":
        """Run the state transitions of the longest valid-looking linear prefix of `blocks`,
        deferring every signature into one batch. Nothing is stored; nothing is trusted
        until Segment.verify() says so. Blocks after the prefix go the one-by-one way.

        The whole segment runs on one working copy of its pre-state; a post-state is copied
        out only for a block that starts an epoch on its branch (stored on disk, the target
        state of attestations), and the last block's post-state is the working copy itself.
        The others are rebuilt by replay if ever asked for.

        `after`: a segment prepared but not yet committed that these blocks continue (so one
        segment can be verified while the next is prepared). Commit `after` first; if it
        fails verification, commit this one unverified too (one by one)."""
        from beacon.crypto.batch import default_verifier
        from beacon.state.errors import StateTransitionError
        from beacon.state.signatures import defer_signatures

        if len(blocks) >= SEGMENT_WORKER_BLOCKS:
            default_verifier().start()  # the worker imports while the first segment runs
        now = self.clock()
        if int(now) > self.store.time:
            fc.on_tick(self.store, int(now))
        spe = self.config.SLOTS_PER_EPOCH
        known: list[ImportResult] = []
        items: list[SegmentItem] = []
        # (root, block, post-state) the next block must extend
        link: Optional[tuple[bytes, Any, Any]] = None
        if after is not None and after.items and not after.rest:
            last = after.items[-1]
            link = (last.root, last.block, last.post)
        start_state: Any = None  # the segment's pre-state (never modified)
        work: Any = None  # the working copy every block of the segment advances
        broken = False
        with defer_signatures() as batch:
            for block in blocks:
                root = block.signing_root()
                if link is None:
                    if root in self.store.blocks or self.db.has_block(root):
                        known.append(ImportResult(Status.KNOWN, root))
                        continue
                    try:
                        fc.check_block(self.store, block)
                        parent = bytes(block.parent_root)
                        link = (parent, self.get_block(parent), self.store.block_state(parent))
                    except (ChainError, ForkChoiceError, KeyError):
                        break  # held, ignored or refused: the one-by-one path says which
                    if link[1] is None:
                        break
                elif (bytes(block.parent_root) != link[0] or block.slot <= link[1].slot
                      or block.slot > self.current_slot()):
                    break
                if block.hash_tree_root() in self._bad:
                    break
                if work is None:
                    start_state = link[2]
                    work = start_state.copy()
                try:
                    _advance(work, block)
                except StateTransitionError:
                    broken = True  # `work` is left part-way
                    break
                epoch_start = link[1].slot // spe != block.slot // spe
                items.append(SegmentItem(root, block, work.copy() if epoch_start else None,
                                         work.current_justified_checkpoint.copy(), work.finalized_checkpoint.copy()))
                link = (root, block, None)
        if items:
            if broken:
                work = _replay(start_state, [item.block for item in items])
            items[-1].post = work
        rest = list(blocks[len(known) + len(items):])
        return Segment(known, items, rest, batch)

    def commit_segment(self, segment: "Segment", verified: bool) -> list[ImportResult]:
        """Store a verified segment (each block one atomic batch, as import_block does); on a
        failed signature check, import its blocks one by one so the bad one is named."""
        results = list(segment.known)
        tail = list(segment.rest)
        first = segment.items[0].block if segment.items else None
        if first is not None and bytes(first.parent_root) not in self.store.blocks:
            verified = False  # the parent left fork choice while we verified (pruned): go slowly
        if verified:
            # A batch that moves finality is written with sync=True; in a segment one synced
            # write at its end covers them all (LevelDB syncs its log in order), instead of
            # an fsync per epoch boundary crossed.
            self._defer_sync, self._sync_owed = True, False
            try:
                for item in segment.items:
                    if item.root in self.store.blocks:  # arrived another way (gossip) meanwhile
                        results.append(ImportResult(Status.KNOWN, item.root))
                        continue
                    self._commit_block(item.root, item.block, item.post, item.justified, item.finalized)
                    result = ImportResult(Status.IMPORTED, item.root, imported=[item.root])
                    self._import_held_children(result)
                    results.append(result)
            finally:
                self._defer_sync = False
                if self._sync_owed:
                    wb = self.db.batch()
                    wb.set_head(self._head)
                    wb.sync = True
                    wb.commit()
        else:
            tail = [item.block for item in segment.items] + tail
        results.extend(self.import_block(block) for block in tail)
        return results

    def _retry_attestations(self, new_roots: set) -> None:
        """Held attestations that vote for (or target) a block just imported get another go."""
        for key, att in list(self._pending_atts.items()):
            if bytes(att.data.beacon_block_root) in new_roots or bytes(att.data.target.root) in new_roots:
                del self._pending_atts[key]
                self._import_held_attestation(key, att)

    def _import_held_attestation(self, key: bytes, att: Any) -> ImportResult:
        from beacon.crypto import bls

        if key in self._pending_verified:
            self._pending_verified.discard(key)
            with bls.enabled(False):  # checked before it was held
                return self.import_attestation(att)
        return self.import_attestation(att)

    def _hold(self, root: bytes, block: Any) -> None:
        self._pending_blocks[root] = block
        self._pending_blocks.move_to_end(root)
        while len(self._pending_blocks) > self.max_pending_blocks:
            self._pending_blocks.popitem(last=False)  # the oldest goes first

    def _import_one(self, block: Any) -> ImportResult:
        root = block.signing_root()
        if root in self.store.blocks or self.db.has_block(root):
            return ImportResult(Status.KNOWN, root)
        # Known-bad blocks are keyed by hash_tree_root, which covers the signature: the
        # signing root does not, and a forged signature must not ban the real block.
        full_root = block.hash_tree_root()
        if full_root in self._bad:
            return ImportResult(Status.INVALID, root, f"known invalid: {self._bad[full_root]}")
        try:
            fc.check_block(self.store, block)
        except UnknownParent as e:
            if self.db.has_block(bytes(block.parent_root)):
                # Stored but pruned from fork choice: the parent is below the finalized block.
                return ImportResult(Status.IGNORED, root, "parent is before the finalized block (conflicts with finality)")
            self._hold(full_root, block)
            return ImportResult(Status.HELD, root, str(e))
        except FutureBlock as e:
            self._hold(full_root, block)
            return ImportResult(Status.HELD, root, str(e))
        except FinalizedConflict as e:
            return ImportResult(Status.IGNORED, root, str(e))
        parent_root = bytes(block.parent_root)
        try:
            pre = self.store.block_state(parent_root)
        except KeyError as e:
            return ImportResult(Status.IGNORED, root, str(e))
        from beacon.state.errors import StateTransitionError
        from beacon.state.slots import apply_block

        try:
            post = apply_block(pre, block, validate_state_root=True)
        except StateTransitionError as e:
            self._remember_bad(full_root, str(e))
            return ImportResult(Status.INVALID, root, str(e))
        self._commit_block(root, block, post)
        return ImportResult(Status.IMPORTED, root, imported=[root])

    def _remember_bad(self, root: bytes, reason: str) -> None:
        self._bad[root] = reason
        while len(self._bad) > 1024:
            self._bad.popitem(last=False)

    def _commit_block(self, root: bytes, block: Any, post: Any, justified: Any = None, finalized: Any = None) -> None:
        """Store one imported block. `post` may be None (a segment's middle block) when its
        checkpoints are given; the post-state is then rebuilt by replay if ever needed."""
        store = self.store
        old_justified = fc.cp_key(store.justified_checkpoint)
        old_finalized = fc.cp_key(store.finalized_checkpoint)
        if justified is None or finalized is None:
            justified, finalized = post.current_justified_checkpoint, post.finalized_checkpoint
        fc.add_block_checkpoints(store, root, block, justified, finalized, post)
        wb = self.db.batch()
        wb.put_block(root, block, _info(block, justified, finalized))
        parent_info = self.db.get_block_info(bytes(block.parent_root))
        spe = self.config.SLOTS_PER_EPOCH
        if parent_info is None or parent_info.slot // spe != block.slot // spe:
            # first block of an epoch on this branch: a replay anchor
            wb.put_state(root, post if post is not None else store.block_state(root))
        # The block's attestations count in fork choice too (signatures were checked in the block).
        self._votes_from_block(block, wb)
        self._update_head_and_finality(wb, old_justified, old_finalized)
        if self._defer_sync and wb.sync:
            wb.sync = False
            self._sync_owed = True
        wb.commit()
        self._emit_after_commit(root, block, old_justified, old_finalized)

    def _votes_from_block(self, block: Any, wb: Any) -> None:
        from beacon.crypto import bls

        for att in block.body.attestations:
            try:
                with bls.enabled(False):
                    changed = fc.on_attestation(self.store, att)
            except (ForkChoiceError, ChainError) as e:
                log.debug("block attestation not used by fork choice: %s", e)
                continue
            epoch = int(att.data.target.epoch)
            broot = bytes(att.data.beacon_block_root)
            for i in changed:
                wb.put_latest_message(i, epoch, broot)

    # --- head, canonical index, finality -------------------------------------------------------
    def _update_head_and_finality(self, wb: Any, old_justified: fc.CheckpointKey,
                                  old_finalized: fc.CheckpointKey) -> None:
        store = self.store
        if fc.cp_key(store.justified_checkpoint) != old_justified:
            wb.set_justified(store.justified_checkpoint)
        if fc.cp_key(store.finalized_checkpoint) != old_finalized:
            wb.set_finalized(store.finalized_checkpoint)
            self._finalize(wb)
        new_head = fc.get_head(store)
        self._pending_head_event = None
        if new_head != self._head.root:
            self._set_canonical(wb, new_head)

    def _set_canonical(self, wb: Any, new_head: bytes) -> None:
        store, db = self.store, self.db
        # Walk the new head back to a block that is already canonical; everything on the
        # way becomes canonical, and the old branch above that point stops being so.
        branch = []
        root = new_head
        while True:
            block = store.blocks.get(root) or db.get_block(root)
            if db.get_canonical_root(block.slot) == root and root != new_head or block.slot == 0:
                break
            branch.append((block.slot, root))
            root = bytes(block.parent_root)
        fork_slot = store.blocks.get(root, None)
        fork_slot = fork_slot.slot if fork_slot is not None else db.get_block_info(root).slot
        old = self._head
        depth = 0
        for slot, _r in db.canonical_roots(fork_slot + 1, 2**64 - 1):
            wb.delete_canonical(slot)
            depth += 1
        for slot, r in branch:
            wb.set_canonical(slot, r)
        new_slot = store.blocks[new_head].slot
        wb.set_head(Head(new_head, new_slot))
        self._head = Head(new_head, new_slot)
        reorg = depth if old.root != root else 0
        self._pending_head_event = HeadEvent(new_head, new_slot, old.root, reorg,
                                             max(0, old.slot - fork_slot) if reorg else 0)

    def _finalize(self, wb: Any) -> None:
        """Prune fork choice below the new finalized block; keep what the disk must keep."""
        store, db = self.store, self.db
        fin_root = bytes(store.finalized_checkpoint.root)
        # The finalized block's state is the new replay floor: make sure it is on disk.
        if not db.has_state(fin_root):
            wb.put_state(fin_root, store.block_state(fin_root))
        removed = fc.prune_store(store)
        fin_slot = store.blocks[fin_root].slot
        canonical_below = set()
        removed_set = set(removed)
        r = fin_root
        while r == fin_root or r in removed_set:
            info = db.get_block_info(r)
            if info is None or info.slot == 0:
                break
            r = info.parent_root
            canonical_below.add(r)
        spe = self.config.SLOTS_PER_EPOCH
        for r in removed:
            if r in canonical_below:
                wb.mark_cold(r)
                info = db.get_block_info(r)
                # Thin out stored states below finality to one snapshot per SNAPSHOT_EPOCHS.
                if info is not None and info.slot != 0 and (info.slot // spe) % SNAPSHOT_EPOCHS != 0:
                    wb.delete_state(r)
            else:
                wb.delete_block(r)  # a branch finality cut off: never canonical again
        log.info("finalized epoch %d root 0x%s (slot %d); pruned %d blocks", store.finalized_checkpoint.epoch,
                 fin_root.hex()[:12], fin_slot, len(removed))

    def _emit_after_commit(self, root: bytes, block: Any, old_justified: fc.CheckpointKey,
                           old_finalized: fc.CheckpointKey) -> None:
        self.events.emit("block", (root, block))
        if fc.cp_key(self.store.justified_checkpoint) != old_justified:
            self.events.emit("justified", self.store.justified_checkpoint.copy())
        if fc.cp_key(self.store.finalized_checkpoint) != old_finalized:
            self.events.emit("finalized", self.store.finalized_checkpoint.copy())
        ev = getattr(self, "_pending_head_event", None)
        if ev is not None:
            self._pending_head_event = None
            self.events.emit("head", ev)

    # --- attestation import --------------------------------------------------------------------
    def import_attestation(self, attestation: Any) -> ImportResult:
        """Validate an attestation and count it in fork choice; held if its blocks are unknown."""
        now = self.clock()
        if int(now) > self.store.time:
            fc.on_tick(self.store, int(now))
        data = attestation.data
        key = attestation.hash_tree_root()
        vote = bytes(data.beacon_block_root)
        if vote not in self.store.blocks:
            if self.db.has_block(vote):
                return ImportResult(Status.IGNORED, key, "votes for a block below finality")
            self._hold_attestation(key, attestation)
            return ImportResult(Status.HELD, key, f"voted block 0x{vote.hex()[:16]} is unknown")
        old_justified = fc.cp_key(self.store.justified_checkpoint)
        old_finalized = fc.cp_key(self.store.finalized_checkpoint)
        try:
            changed = fc.on_attestation(self.store, attestation)
        except (UnknownTarget, FutureAttestation) as e:
            self._hold_attestation(key, attestation)
            return ImportResult(Status.HELD, key, str(e))
        except InvalidAttestation as e:
            return ImportResult(Status.INVALID, key, str(e))
        except ForkChoiceError as e:
            return ImportResult(Status.IGNORED, key, str(e))
        if changed:
            wb = self.db.batch()
            for i in changed:
                wb.put_latest_message(i, int(data.target.epoch), vote)
            self._update_head_and_finality(wb, old_justified, old_finalized)
            wb.commit()
            ev = getattr(self, "_pending_head_event", None)
            if ev is not None:
                self._pending_head_event = None
                self.events.emit("head", ev)
        self.events.emit("attestation", attestation)
        return ImportResult(Status.IMPORTED, key)

    def _hold_attestation(self, key: bytes, attestation: Any) -> None:
        from beacon.crypto import bls

        self._pending_atts[key] = attestation
        if not bls.is_bls_enabled():  # the caller verified it (gossip), or verification is off
            self._pending_verified.add(key)
        while len(self._pending_atts) > self.max_pending_attestations:
            old, _ = self._pending_atts.popitem(last=False)
            self._pending_verified.discard(old)

    def update_head(self) -> HeadInfo:
        """Recompute the head (e.g. once per slot) and persist it if it moved."""
        wb = self.db.batch()
        j, f = fc.cp_key(self.store.justified_checkpoint), fc.cp_key(self.store.finalized_checkpoint)
        self._update_head_and_finality(wb, j, f)
        if len(wb):
            wb.commit()
            ev = getattr(self, "_pending_head_event", None)
            if ev is not None:
                self._pending_head_event = None
                self.events.emit("head", ev)
        return self.head

    # --- states ------------------------------------------------------------------------------------
    def _pinned_roots(self) -> set:
        return {self._head.root, bytes(self.store.justified_checkpoint.root), bytes(self.store.finalized_checkpoint.root)}

    def _load_state(self, root: bytes) -> Optional[Any]:
        """Rebuild a block's post-state: nearest stored (or cached) ancestor state + replay."""
        from beacon.crypto import bls
        from beacon.state.slots import apply_block

        chain = []
        r = root
        base = None
        while True:
            cached = self.store.block_states.get(r) if r != root else None
            if cached is not None:
                base = cached
                break
            stored = self.db.get_state(r)
            if stored is not None:
                base = stored
                break
            block = self.store.blocks.get(r) or self.db.get_block(r)
            if block is None or block.slot == 0:
                return None
            chain.append(block)
            r = bytes(block.parent_root)
        state = base
        with bls.enabled(False):  # every replayed block passed full validation at import
            for block in reversed(chain):
                state = apply_block(state, block, validate_state_root=False)
        if chain:
            self.store.block_states[root] = state
        return state


def _info(block: Any, justified: Any, finalized: Any) -> BlockInfo:
    """The block's index record, with its post-state's checkpoints."""
    return BlockInfo(
        slot=int(block.slot), parent_root=bytes(block.parent_root), state_root=bytes(block.state_root),
        justified_epoch=int(justified.epoch), justified_root=bytes(justified.root),
        finalized_epoch=int(finalized.epoch), finalized_root=bytes(finalized.root),
    )


def _advance(state: Any, block: Any) -> None:
    """apply_block(state, block) in place, without its copy: a segment runs on one working
    state. On a StateTransitionError `state` is left part-way (the caller rebuilds it)."""
    from beacon.state.errors import InvalidBlock, InvalidSlot
    from beacon.state.slots import process_block, process_slots

    if block.slot < state.slot:
        raise InvalidSlot(f"block slot {block.slot} is before the state slot {state.slot}")
    process_slots(state, block.slot)
    process_block(state, block)
    if block.state_root != state.hash_tree_root():
        raise InvalidBlock("state root does not match the post-state")


def _replay(state: Any, blocks: Sequence[Any]) -> Any:
    """The post-state of `blocks` (all already passed the transition) on a copy of `state`."""
    from beacon.crypto import bls

    state = state.copy()
    with bls.enabled(False):
        for block in blocks:
            _advance(state, block)
    return state


def _restore_store(db: BeaconDB, genesis_state: Any) -> fc.Store:
    """Rebuild the fork-choice Store from disk after a restart (clean or not)."""
    from beacon.chain.proto_array import ProtoArray

    t = genesis_state.types
    justified = db.get_justified()
    finalized = db.get_finalized()
    if justified is None or finalized is None:
        raise CorruptStore(f"{db.path} has a head but no {'justified' if justified is None else 'finalized'} checkpoint")
    fin_root = bytes(finalized.root)
    fin_block = db.get_block(fin_root)
    if fin_block is None:
        raise CorruptStore(f"{db.path}: the finalized block 0x{fin_root.hex()[:16]} is missing")
    store = fc.Store(time=int(genesis_state.genesis_time), justified_checkpoint=justified,
                     finalized_checkpoint=finalized, genesis_time=int(genesis_state.genesis_time))
    store.blocks[fin_root] = fin_block
    store.proto = ProtoArray(fin_root, fin_block.slot)
    hot = []
    for r in db.hot_roots():
        if r == fin_root:
            continue
        info = db.get_block_info(r)
        if info is not None and info.slot > fin_block.slot:
            hot.append((info.slot, r))
    hot.sort()
    for slot, r in hot:
        block = db.get_block(r)
        if block is None:
            raise CorruptStore(f"{db.path}: block 0x{r.hex()[:16]} has its info record but not its block")
        if bytes(block.parent_root) not in store.blocks:
            continue  # a side branch finality cut off before its deletion reached disk
        store.blocks[r] = block
        store.proto.add_block(r, slot, bytes(block.parent_root))
    if fin_root == bytes(t.BeaconBlock(state_root=genesis_state.hash_tree_root()).signing_root()):
        store.block_states[fin_root] = genesis_state.copy()
    if bytes(justified.root) not in store.blocks:
        raise CorruptStore(f"{db.path}: the justified block 0x{bytes(justified.root).hex()[:16]} is not among the "
                           "blocks at or above the finalized one")
    for index, epoch, root in db.latest_messages():
        store.latest_messages[index] = fc.LatestMessage(epoch=epoch, root=root)
        store.proto.process_vote(index, root)
    return store
