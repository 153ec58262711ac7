"""Range sync after the handshake, and parent lookup for orphans.

Range sync (p2p-interface.md v0.8.3, "BeaconBlocks"): when a peer's Hello (or a block it
forwarded) shows a head above ours, we ask the best such peer for
`BeaconBlocksRequest(head_block_root=<its head>, start_slot, count=batch, step=1)`,
starting just above our head, and import what comes back through the chain. The next
batch is fetched while the current one is imported (one batch in flight), so the wire
and the import overlap. A batch must hold at most `count` blocks, in strictly increasing
slots inside the requested window; the first block of the first batch may not link to our
head (we are on another branch): then sync restarts once from our finalized slot. An
invalid block, or blocks that do not link, drop the peer (Goodbye(3), banned for a while)
and sync moves on to the next best peer. An answer that does not decode, or a failed or
refused request, only costs that request (a small penalty: a ban comes when it repeats);
the peer is not asked again for that head until it advertises a higher one.

Peer heads come from every Hello (the first and the per-epoch re-status) and from gossip
blocks it forwarded. A head learnt from a block is named as the peer names blocks
(signing_root as v0.8.3 says, or hash_tree_root as Trinity did; `Dialect`); when the
peer's name is not known yet and the first name brings nothing, the other is tried.

Parent lookup ("RecentBeaconBlocks"): a gossip block whose parent we lack, or an
attestation for a block we lack, is held by the chain; we then ask the peer that
forwarded it for `ChainView.missing_roots()`, import the answer, and repeat (a chain of
unknown ancestors is fetched one generation per round, at most LOOKUP_ROUNDS rounds). An
orphan more than FAR_AHEAD_SLOTS above our head also starts a range sync from its sender
(peers that name blocks by hash_tree_root cannot answer a lookup by parent_root).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import trio
from libp2p.peer.id import ID

from . import messages as m
from . import reqresp
from .host import P2PHost
from .interface import ChainView, ImportResult
from .peers import DISCONNECT_SCORE, PENALTY_BAD_RESPONSE, Peer, PeerManager

log = logging.getLogger(__name__)

BATCH_SIZE = 64  # blocks per BeaconBlocks request
MAX_IMPORT_BLOCKS = 256  # arrived batches imported together, up to this many blocks
LOOKUP_ROUNDS = 32  # parent-lookup generations per orphan
LOOKUP_MAX_GAP = 32  # slots: beyond this an orphan triggers range sync, not lookups
FAR_AHEAD_SLOTS = 2  # slots: an orphan further above our head starts a range sync as well
MAX_ROOTS_PER_LOOKUP = 64
RECHECK_INTERVAL = 5.0  # s: re-evaluate peers even without a wake-up


class PeerFault(Exception):
    """The peer served something wrong; it gets dropped."""


class RequestFailed(Exception):
    """A request brought nothing usable. Undecodable or timed out (`costly`): a small
    penalty, not the connection. Refused (an error result, `na`): a dialect, free."""

    def __init__(self, message: str, costly: bool) -> None:
        super().__init__(message)
        self.costly = costly


@dataclass
class PeerHead:
    root: bytes  # as the peer names it, when `named_by_peer`; else our signing root
    slot: int
    hash_tree_root: bytes | None = None  # the other name, when the head came from a block
    named_by_peer: bool = True


class SyncManager:
    def __init__(self, host: P2PHost, peers: PeerManager, chain: ChainView, batch_size: int = BATCH_SIZE) -> None:
        self.host = host
        self.peers = peers
        self.chain = chain
        self.batch_size = batch_size
        self._heads: dict[ID, PeerHead] = {}  # best known head of each peer
        # head slot at which a peer could not take us further (no retry until it grows)
        self._exhausted: dict[ID, int] = {}
        self._wake = trio.Event()
        self._syncing = False
        self._lookup_send, self._lookup_recv = trio.open_memory_channel[ID](16)
        # counters for tests, metrics and the benchmark
        self.blocks_imported = 0
        self.batches = 0
        self.lookups = 0
        self.dropped: list[tuple[ID, str]] = []

    # -- hooks -------------------------------------------------------------------------

    async def on_peer_status(self, peer: Peer) -> None:
        """PeerManager hook: a Hello (first or re-status) is accepted."""
        if peer.hello is not None:
            self.note_peer_head(peer.peer_id, peer.hello.head_root, peer.hello.head_slot)

    def note_peer_head(self, peer_id: ID, root: bytes, slot: int, hash_tree_root: bytes | None = None) -> None:
        """The peer has a block at `slot`: `root` as the peer named it (Hello), or, with
        `hash_tree_root`, a block's signing root and hash_tree_root (gossip)."""
        known = self._heads.get(peer_id)
        if known is None or slot > known.slot:
            self._heads[peer_id] = PeerHead(root, slot, hash_tree_root, named_by_peer=hash_tree_root is None)
        if slot > self.chain.head()[1]:
            self._wake.set()

    def on_orphan(self, peer_id: ID, block: tuple[int, bytes, bytes] | None = None) -> None:
        """Gossip from `peer_id` could not be judged for a missing block: look it up.
        `block` is (slot, signing root, hash_tree_root) of an orphan block, None for an
        attestation."""
        if block is not None and block[0] > self.chain.head()[1] + FAR_AHEAD_SLOTS:
            # Its forwarder has its ancestors: range sync towards it too.
            self.note_peer_head(peer_id, block[1], block[0], block[2])
            if block[0] > self.chain.head()[1] + LOOKUP_MAX_GAP:
                return  # far behind: range sync alone
        if self._syncing:
            return  # range sync will bring the parents
        try:
            self._lookup_send.send_nowait(peer_id)
        except trio.WouldBlock:
            pass  # lookups already queued; they will see the same missing roots

    def is_syncing(self) -> bool:
        return self._syncing

    def peer_head(self, peer_id: ID) -> PeerHead | None:
        return self._heads.get(peer_id)

    # -- tasks -------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._lookup_loop)
            task_status.started()
            while True:
                with trio.move_on_after(RECHECK_INTERVAL):
                    await self._wake.wait()
                self._wake = trio.Event()
                try:
                    await self.sync_once()
                except Exception:
                    # A bug of ours must not take the node's networking down with it.
                    log.exception("range sync failed")
                    self._syncing = False

    async def sync_once(self) -> None:
        """Range-sync from the best peer until no peer is ahead of us."""
        while (peer_id := self._best_peer()) is not None:
            self._syncing = True
            head = self._heads[peer_id]
            try:
                await self._sync_from(peer_id)
            except PeerFault as e:
                self._drop(peer_id, str(e))
            except RequestFailed as e:
                self._exhausted[peer_id] = head.slot
                if e.costly:
                    self._cost(peer_id, str(e))
                else:
                    log.info("range sync from %s: %s", peer_id, e)
            finally:
                self._syncing = False

    def _best_peer(self) -> ID | None:
        our_slot = self.chain.head()[1]
        active = {p.peer_id for p in self.peers.active_peers()}
        for gone in [p for p in self._heads if p not in self.peers.peers]:
            self._heads.pop(gone, None)
            self._exhausted.pop(gone, None)
        best: tuple[int, ID] | None = None
        for peer_id, head in self._heads.items():
            if peer_id not in active or head.slot <= our_slot:
                continue
            if self._exhausted.get(peer_id, -1) >= head.slot:
                continue
            if best is None or head.slot > best[0]:
                best = (head.slot, peer_id)
        return None if best is None else best[1]

    def _cost(self, peer_id: ID, reason: str) -> None:
        """A request that brought nothing usable: a small penalty, a ban only if it repeats."""
        log.info("range sync from %s: %s", peer_id, reason)
        self.peers.penalize(peer_id, PENALTY_BAD_RESPONSE, f"sync: {reason}")

    def _drop(self, peer_id: ID, reason: str) -> None:
        log.warning("dropping peer %s: %s", peer_id, reason)
        self.dropped.append((peer_id, reason))
        self._heads.pop(peer_id, None)
        peer = self.peers.peers.get(peer_id)
        if peer is not None:
            # Enough to reach the disconnect score at once: Goodbye(3) and a ban.
            self.peers.penalize(peer_id, peer.score - DISCONNECT_SCORE, f"sync: {reason}")

    def _head_names(self, peer_id: ID, head: PeerHead) -> list[bytes]:
        """The head root(s) to ask `peer_id` by: its own name for the block if known."""
        if head.named_by_peer or head.hash_tree_root is None:
            return [head.root]
        by_htr = self.peers.dialect(peer_id).names_blocks_by_hash_tree_root
        if by_htr is None:
            return [head.root, head.hash_tree_root]
        return [head.hash_tree_root if by_htr else head.root]

    async def _sync_from(self, peer_id: ID) -> None:
        head = self._heads[peer_id]
        start = self.chain.head()[1] + 1
        log.info("range sync from %s: slots %d..%d", peer_id, start, head.slot)
        names = self._head_names(peer_id, head)
        for i, name in enumerate(names):
            target = PeerHead(name, head.slot)
            before = self.blocks_imported
            outcome = await self._pipeline(peer_id, target, start)
            if self.blocks_imported > before or outcome == "fork":
                if len(names) > 1:  # now we know which name it uses
                    self.peers.dialect(peer_id).names_blocks_by_hash_tree_root = i == 1
                break
        if outcome == "fork":
            start = self.chain.finalized_slot() + 1
            log.info("our head is not on %s's chain; range sync again from slot %d", peer_id, start)
            outcome = await self._pipeline(peer_id, target, start)
            if outcome == "fork":
                raise PeerFault("its blocks do not link to our finalized chain")
        if head.named_by_peer:
            self.peers.learn_naming(peer_id, head.root)  # we may know its head block now
        if self.chain.head()[1] < head.slot:
            # It did not take us to its advertised head (e.g. its head is on a fork we
            # rejected or it skipped); do not ask again until it advertises more.
            self._exhausted[peer_id] = head.slot
        log.info("range sync from %s done: head slot %d", peer_id, self.chain.head()[1])

    async def _pipeline(self, peer_id: ID, head: PeerHead, start: int) -> str:
        """Fetch batches [start, head.slot] with one in flight while importing; returns
        "done" or "fork" (first block does not link); raises PeerFault."""
        send, recv = trio.open_memory_channel[tuple[int, int, list[bytes]] | BaseException](1)
        result = "done"
        fault: PeerFault | RequestFailed | None = None
        # A fault is raised only after the nursery has closed: raised inside it, trio
        # would wrap it in an ExceptionGroup.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._fetch_batches, peer_id, head, start, send)
            async with recv:
                first = True
                async for item in recv:
                    try:
                        if isinstance(item, RequestFailed):
                            raise item
                        if isinstance(item, BaseException):
                            raise PeerFault(str(item))
                        _batch_start, _count, blocks = item
                        # A batch that has already arrived joins this import: the chain
                        # pipelines its signature checks within one import, so longer runs
                        # leave its worker idle less often.
                        later: BaseException | None = None
                        while len(blocks) < MAX_IMPORT_BLOCKS:
                            try:
                                nxt = recv.receive_nowait()
                            except (trio.WouldBlock, trio.EndOfChannel):
                                break
                            if isinstance(nxt, BaseException):
                                later = nxt  # after the blocks before it
                                break
                            blocks = blocks + nxt[2]
                        if await self._import_batch(blocks, first) == "fork":
                            result = "fork"
                        elif isinstance(later, RequestFailed):
                            raise later
                        elif later is not None:
                            raise PeerFault(str(later))
                    except (PeerFault, RequestFailed) as e:
                        fault = e
                    if fault is not None or result == "fork":
                        nursery.cancel_scope.cancel()
                        break
                    if blocks:
                        first = False
        if fault is not None:
            raise fault
        return result

    async def _fetch_batches(self, peer_id: ID, head: PeerHead, start: int,
                             send: trio.MemorySendChannel[tuple[int, int, list[bytes]] | BaseException]) -> None:
        async with send:
            while start <= head.slot:
                count = min(self.batch_size, head.slot - start + 1)
                req = m.BeaconBlocksRequest(head_block_root=head.root, start_slot=start, count=count, step=1)
                try:
                    blocks = await reqresp.request_beacon_blocks(self.host.libp2p, peer_id, req, self._is_block,
                                                                 self.peers.dialect(peer_id))
                    self._check_batch(blocks, start, count)
                except PeerFault as e:
                    await send.send(PeerFault(f"blocks by range {start}+{count}: {e}"))
                    return
                except reqresp.ProtocolUnsupported as e:
                    await send.send(RequestFailed(f"unsupported: {e}", costly=False))
                    return
                except reqresp.ErrorResponse as e:
                    await send.send(RequestFailed(f"blocks by range {start}+{count} refused: {e}", costly=False))
                    return
                except reqresp.ReqRespError as e:
                    await send.send(RequestFailed(f"blocks by range {start}+{count}: {e}", costly=True))
                    return
                self.batches += 1
                await send.send((start, count, blocks))
                start += count

    def _is_block(self, ssz: bytes) -> bool:
        return self.chain.block_slot(ssz) is not None

    def _check_batch(self, blocks: list[bytes], start: int, count: int) -> None:
        if len(blocks) > count:
            raise PeerFault(f"{len(blocks)} blocks for a request of {count}")
        previous = start - 1
        for b in blocks:
            slot = self.chain.block_slot(b)
            if slot is None:
                raise PeerFault("a block that cannot be a BeaconBlock")
            if not previous < slot < start + count:
                raise PeerFault(f"block at slot {slot} outside {start}..{start + count - 1} or out of order")
            previous = slot

    async def _import_batch(self, blocks: list[bytes], first_batch: bool) -> str:
        outcomes = await self.chain.import_blocks(blocks)
        for i, o in enumerate(outcomes):
            if o.result is ImportResult.INVALID:
                raise PeerFault(f"invalid block at slot {o.slot}: {o.reason}")
            if o.result is ImportResult.EMPTY:
                raise PeerFault("a null block in a by-range answer")
            if o.result is ImportResult.UNKNOWN_PARENT:
                if first_batch and i == 0:
                    return "fork"
                raise PeerFault(f"block at slot {o.slot} does not link to the blocks before it")
            if o.result is ImportResult.IMPORTED:
                self.blocks_imported += 1
        return "ok"

    async def _lookup_loop(self) -> None:
        async for peer_id in self._lookup_recv:
            if self._syncing or peer_id not in self.peers.peers:
                continue
            try:
                await self.lookup_missing(peer_id)
            except PeerFault as e:
                self._drop(peer_id, str(e))
            except Exception:
                log.exception("parent lookup failed")

    async def lookup_missing(self, peer_id: ID) -> int:
        """Fetch missing ancestors from `peer_id` (RecentBeaconBlocks); returns how many
        blocks were imported."""
        imported = 0
        for _ in range(LOOKUP_ROUNDS):
            roots = self.chain.missing_roots()[:MAX_ROOTS_PER_LOOKUP]
            if not roots:
                break
            self.lookups += 1
            try:
                blocks = await reqresp.request_recent_beacon_blocks(self.host.libp2p, peer_id, roots, self._is_block,
                                                                    self.peers.dialect(peer_id))
            except (reqresp.ErrorResponse, reqresp.ProtocolUnsupported) as e:
                log.info("parent lookup from %s refused: %s", peer_id, e)
                return imported
            except reqresp.ReqRespError as e:
                log.info("parent lookup from %s failed: %s", peer_id, e)
                if isinstance(e, reqresp.InvalidResponse):
                    self.peers.penalize(peer_id, PENALTY_BAD_RESPONSE, f"lookup: {e}")
                return imported
            outcomes = await self.chain.import_blocks(blocks)
            progress = False
            wanted = set(roots)
            for o in outcomes:
                if o.result is ImportResult.EMPTY:
                    continue  # the peer does not have that one
                if o.result is ImportResult.INVALID:
                    raise PeerFault(f"invalid block in recent_beacon_blocks: {o.reason}")
                if o.root not in wanted:
                    raise PeerFault("recent_beacon_blocks answered a block we did not ask for")
                if o.result is ImportResult.IMPORTED:
                    imported += 1
                    self.blocks_imported += 1
                progress = True
            if not progress:
                break
        return imported
