"""The beacon node: one trio nursery holding the slot clock loop, p2p, the validator duties
and the HTTP/metrics servers, around one Chain on one datadir.

    node = Node.open(config, genesis_state, options, keys)   # StoreError/ProtectionError if unusable
    trio.run(node.run)                                         # until SIGINT/SIGTERM or node.stop()

Per slot (beacon/clock.py): fork-choice on_tick (held blocks/attestations retried), head
update, the proposer duty at the slot start, the attester duty when the slot's block arrives
or at 1/3 of the slot, and one INFO line at 2/3 of the slot. Blocks and attestations from
gossip and sync reach the chain through `NodeChain`, which counts them for the metrics and
feeds the attestation pool, whichever way they came in.

Shutdown (SIGINT/SIGTERM): p2p says Goodbye to its peers (P2PService.shutdown), the nursery is
cancelled, then the slashing-protection and chain databases are closed.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import trio

from beacon.api.events import EventStream
from beacon.api.metrics import Metrics
from beacon.api.server import make_app, serve
from beacon.api.chaos import ChaosApi
from beacon.api.v1 import BeaconApiV1
from beacon.api.views import Views
from beacon.chain import Chain, Status
from beacon.chain.slasher import SPAN_EPOCHS, Slasher
from beacon.clock import SlotClock
from beacon.crypto import bls
from beacon.validator.keys import ValidatorKey
from beacon.validator.pools import AttestationPool, OperationPool
from beacon.db import StoreWriteError
from beacon.validator.protection import ProtectionWriteError, SlashingProtection
from beacon.validator.service import ValidatorService

log = logging.getLogger("beacon.node")

try:
    from importlib.metadata import version as _dist_version

    VERSION = "pybeacon/" + _dist_version("pybeacon")
except Exception:  # noqa: BLE001 - running from a source tree without installing
    VERSION = "pybeacon/0.1.0"

SHUTDOWN_GRACE = 3.0  # seconds for Goodbye before we cut connections


@dataclass
class NodeOptions:
    datadir: Path
    listen_address: str = "0.0.0.0"
    port: int = 9000
    static_peers: Sequence[str] = ()
    http_address: str = "127.0.0.1"
    http_port: Optional[int] = 5052  # None: no HTTP API
    metrics_address: str = "127.0.0.1"
    metrics_port: Optional[int] = 8008  # None: no metrics endpoint
    p2p: bool = True  # False: run without networking (tests of a single node)
    discovery: Any = None  # beacon.p2p.discv5.service.DiscoveryOptions; None: no discovery
    allow_equivocation: bool = False  # --unsafe-allow-equivocation: the chaos endpoint may order slashable pairs
    slasher_epochs: int = SPAN_EPOCHS  # --slasher-epochs: how wide a surround vote the slasher still finds
    extra: dict[str, Any] = field(default_factory=dict)


class NullP2P:
    """Networking switched off (or not available in this build): same surface as P2PService."""

    def __init__(self, reason: str, chain: Any) -> None:
        self.reason = reason
        self.chain = chain

    async def run(self, task_status: trio.TaskStatus[Optional[str]] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started(None)
        await trio.sleep_forever()

    async def publish_block(self, block: Any) -> None:
        return None

    async def publish_attestation(self, attestation: Any) -> None:
        # Like P2PService: what we publish is handed to our own fork choice as well.
        self.chain.import_attestation(attestation)

    def peers(self) -> list[dict[str, Any]]:
        return []

    def multiaddr(self) -> Optional[str]:
        return None

    def is_syncing(self) -> bool:
        return False

    async def shutdown(self) -> None:
        return None


# A datadir write that failed (disk full, read-only): the node stops, it cannot go on safely.
STORAGE_FAILURES = (StoreWriteError, ProtectionWriteError)


WRITE_PROBE = ".write-probe"


def datadir_write_problem(datadir: Path) -> Optional[str]:
    """None if a file can be created, written and removed in the datadir, else why not.
    Checked every slot: LevelDB keeps writing through files it already has open, so a
    datadir made read-only (or a disk that fills between writes) would otherwise only show
    when LevelDB next opens a file, possibly hours later."""
    probe = Path(datadir) / WRITE_PROBE
    try:
        with open(probe, "wb") as f:
            f.write(b"\0")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        hint = {28: " (the disk is full)", 30: " (the filesystem is read-only)", 13: " (permission denied)"}.get(
            e.errno or 0, "")
        return f"cannot write to datadir {datadir}{hint}: {e.strerror}"
    return None


class NodeChain:
    """The Chain as p2p and the validator see it: every import is timed and counted, and
    valid attestations go to the attestation pool. Everything else is the Chain's own."""

    def __init__(self, chain: Chain, metrics: Metrics, attestation_pool: AttestationPool,
                 on_storage_failure: Optional[Callable[[Exception], None]] = None) -> None:
        self._chain = chain
        self._metrics = metrics
        self._pool = attestation_pool
        # Told of a failed datadir write before it propagates: p2p and sync catch every
        # exception of an import (a peer's block must not stop us), but a full disk must.
        self.on_storage_failure = on_storage_failure

    def _storage_failed(self, e: Exception) -> None:
        if self.on_storage_failure is not None:
            self.on_storage_failure(e)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    @property
    def inner(self) -> Chain:
        return self._chain

    def import_block(self, block: Any) -> Any:
        started = time.perf_counter()
        try:
            result = self._chain.import_block(block)
        except STORAGE_FAILURES as e:
            self._storage_failed(e)
            raise
        if result.status is Status.IMPORTED:
            # Held descendants imported by this call are in result.imported too; the time is
            # for all of them, recorded once per block.
            seconds = (time.perf_counter() - started) / max(1, len(result.imported))
            for _ in result.imported:
                self._metrics.block_import_seconds.observe(seconds)
            self._metrics.blocks_imported.inc(len(result.imported))
        elif result.status is Status.INVALID:
            self._metrics.blocks_rejected.inc()
            log.debug("block 0x%s rejected: %s", result.root.hex()[:12], result.reason)
        return result

    def import_attestation(self, attestation: Any) -> Any:
        # A caller that switched BLS off has checked the signature itself (p2p's gossip
        # validation does, on the target checkpoint state); fork choice checks it otherwise.
        checked_by_caller = not bls.is_bls_enabled()
        try:
            result = self._chain.import_attestation(attestation)
        except STORAGE_FAILURES as e:
            self._storage_failed(e)
            raise
        if result.status is Status.IMPORTED:
            self._metrics.attestations_imported.inc()
            self._pool.add(attestation, verified=True)
        elif result.status is Status.HELD:
            # Held until its slot is over (fork choice's rule) or its block arrives.
            if checked_by_caller:
                self._metrics.attestations_imported.inc()
            self._pool.add(attestation, verified=checked_by_caller)
        elif result.status is Status.INVALID:
            self._metrics.attestations_rejected.inc()
        return result


def make_p2p(chain: NodeChain, options: NodeOptions, clock: SlotClock) -> Any:
    """P2PService when networking is on and available; else a NullP2P that says why."""
    if not options.p2p:
        return NullP2P("networking disabled (--no-p2p)", chain)
    try:
        from beacon.p2p.service import P2PConfig, P2PService
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("beacon.p2p.service"):
            return NullP2P("the p2p service is not part of this build", chain)
        raise
    # Gossip timing checks use the node's clock, so a test clock drives p2p as well.
    return P2PService(chain, datadir=options.datadir, listen_address=options.listen_address, port=options.port,
                      static_peers=list(options.static_peers), config=P2PConfig(clock=clock.now),
                      log=logging.getLogger("beacon.p2p"))


class Node:
    def __init__(self, config: Any, genesis_state: Any, chain: Chain, protection: Optional[SlashingProtection],
                 options: NodeOptions, keys: Sequence[ValidatorKey], clock: SlotClock) -> None:
        self.config = config
        self.genesis_time = int(genesis_state.genesis_time)
        self.fork_version = bytes(genesis_state.fork.current_version)
        self.discovery: Any = None  # DiscoveryService once running
        self.options = options
        self.clock = clock
        self.version = VERSION
        self.metrics = Metrics()
        self.attestation_pool = AttestationPool()
        self.operation_pool = OperationPool()
        self.chain = NodeChain(chain, self.metrics, self.attestation_pool, self.storage_failed)
        self.storage_error: Optional[str] = None  # set when a datadir write failed: the exit error
        self.protection = protection
        self.p2p: Any = make_p2p(self.chain, options, clock)
        self._wire_operation_pool()
        self.validator: Optional[ValidatorService] = None
        if keys:
            assert protection is not None
            self.validator = ValidatorService(
                self.chain, keys, protection, self.attestation_pool, self.operation_pool, self,
                genesis_state.eth1_data, now=clock.now, slot_start=clock.slot_start, listener=self.metrics.on_duty)
        self._block_seen: dict[int, trio.Event] = {}
        self._stop = trio.Event()
        self._stop_reason = ""
        self.multiaddr: Optional[str] = None
        chain.events.subscribe("block", self._on_block)
        chain.events.subscribe("finalized", self._on_finalized)
        self.views = Views(self)
        self.api_v1 = BeaconApiV1(self)
        self.chaos_api = ChaosApi(self)
        self.event_stream = EventStream(self.chain, config)

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def open(cls, config: Any, genesis_state: Any, options: NodeOptions, keys: Sequence[ValidatorKey] = (),
             time_fn: Callable[[], float] = time.time) -> "Node":
        """Open the datadir (chain, then slashing protection when we have keys) and build the node.
        Raises beacon.db.StoreError or ProtectionError with a one-line message."""
        clock = SlotClock(int(genesis_state.genesis_time), config.SECONDS_PER_SLOT, config.SLOTS_PER_EPOCH,
                          time_fn=time_fn)
        chain = Chain.open(options.datadir, genesis_state, clock=time_fn)
        protection = None
        try:
            if keys:
                protection = SlashingProtection(options.datadir, chain.genesis_root)
            return cls(config, genesis_state, chain, protection, options, keys, clock)
        except BaseException:
            if protection is not None:
                protection.close()
            chain.close()
            raise

    def close(self) -> None:
        if self.protection is not None:
            self.protection.close()
        self.chain.inner.close()

    # --- the publisher the validator uses (p2p, or nothing) -------------------------------
    async def publish_block(self, block: Any) -> None:
        try:
            await self.p2p.publish_block(block)
        except Exception as e:  # noqa: BLE001 - no peers / a refused payload must not lose the duty
            log.warning("publishing block at slot %d failed: %s", block.slot, e)

    async def publish_attestation(self, attestation: Any) -> None:
        try:
            await self.p2p.publish_attestation(attestation)
        except Exception as e:  # noqa: BLE001
            log.warning("publishing an attestation failed: %s", e)

    def is_syncing(self) -> bool:
        return bool(self.p2p.is_syncing())

    async def submit_voluntary_exit(self, exit_: Any) -> bool:
        """A valid exit from the API: into our operation pool (our proposers include it) and out by
        gossip. True if it was new to the pool. A failed publication is logged, not raised: the
        exit stays pooled for our own proposals."""
        new = self.operation_pool.add_exit(exit_)
        publish = getattr(self.p2p, "publish_voluntary_exit", None)
        if publish is not None:
            try:
                await publish(exit_)
            except Exception as e:  # noqa: BLE001 - no peers / a refused payload
                log.warning("gossiping the exit of validator %d failed: %s", exit_.validator_index, e)
        log.info("voluntary exit of validator %d (epoch %d) pooled%s", exit_.validator_index, exit_.epoch,
                 " and gossiped" if publish is not None else "")
        return new

    # --- events --------------------------------------------------------------------------------
    def _slot_event(self, slot: int) -> trio.Event:
        ev = self._block_seen.get(slot)
        if ev is None:
            ev = self._block_seen[slot] = trio.Event()
            for old in [s for s in self._block_seen if s < slot - 4]:
                del self._block_seen[old]
        return ev

    def _on_block(self, payload: Any) -> None:
        _root, block = payload
        self.operation_pool.prune_included(block)
        self._slot_event(int(block.slot)).set()

    def _on_finalized(self, checkpoint: Any) -> None:
        self.attestation_pool.prune(self.clock.epoch_of(self.clock.current_slot() or 0))

    def _wire_operation_pool(self) -> None:
        # Accepted gossip exits/slashings reach the proposer's pool (p2p keeps the adapter's
        # callbacks in `on_operation`, see beacon/p2p/chain_view.py).
        callbacks = getattr(getattr(self.p2p, "view", None), "on_operation", None)
        if isinstance(callbacks, list):
            callbacks.append(self._on_operation)
        gossip = getattr(getattr(self.p2p, "view", None), "gossip", None)
        if gossip is not None and gossip.slasher.span_epochs != self.options.slasher_epochs:
            # nothing fed yet (its arrays are sized on first use): swap in the configured window
            gossip.slasher = Slasher(gossip.types, gossip.config, span_epochs=self.options.slasher_epochs)
        found = getattr(gossip, "on_slashing", None)
        if isinstance(found, list):
            found.append(lambda kind, _op: self.metrics.slashings_found.labels(kind).inc())

    def _on_operation(self, topic: str, op: Any) -> None:
        name = type(op).__name__
        if name == "VoluntaryExit":
            if self.operation_pool.add_exit(op):
                log.info("voluntary exit of validator %d (epoch %d) received by gossip, pooled", op.validator_index,
                         op.epoch)
        elif name == "ProposerSlashing":
            self.operation_pool.add_proposer_slashing(op)
        elif name == "AttesterSlashing":
            self.operation_pool.add_attester_slashing(op)

    # --- running -------------------------------------------------------------------------------
    def stop(self, reason: str = "asked to stop") -> None:
        self._stop_reason = reason
        self._stop.set()

    def storage_failed(self, e: Exception) -> None:
        """A datadir write failed. LevelDB applied none of it, so the datadir is consistent
        up to the last good write; going on would sign and import what cannot be recorded."""
        if self.storage_error is None:
            self.storage_error = str(e)
            log.error("%s; stopping (the datadir is intact up to the last good write: free space or make it "
                      "writable, then restart)", e)
        self.stop("datadir write failed")

    def refresh_metrics(self) -> None:
        self.metrics.update_chain(self.chain, self.clock.current_slot(), len(self.p2p.peers()),
                                  len(self.attestation_pool))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_signals)
                await self._start_servers(nursery)
                self.multiaddr = await nursery.start(self.p2p.run)
                if not self.multiaddr:
                    log.warning("running without p2p: %s", getattr(self.p2p, "reason", "unknown"))
                elif self.options.discovery is not None:
                    await self._start_discovery(nursery)
                head = self.chain.head
                log.info("node up at %s: %s, genesis 0x%s time %d, head slot %d, %d validators, datadir %s",
                         self.multiaddr or "(no p2p)", self.version, self.chain.genesis_root.hex()[:12],
                         self.genesis_time, head.slot, len(self.validator.keys) if self.validator else 0,
                         self.options.datadir, extra={"fields": {"multiaddr": self.multiaddr}})
                nursery.start_soon(self._slot_loop, nursery)
                task_status.started()
                await self._stop.wait()
                log.info("shutting down: %s", self._stop_reason)
                if self.discovery is not None:
                    self.discovery.stop()  # dial no one new while saying Goodbye
                with trio.move_on_after(SHUTDOWN_GRACE):
                    await self.p2p.shutdown()
                nursery.cancel_scope.cancel()
        finally:
            self.close()
            log.info("stopped; databases closed")

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                self.stop(signal.Signals(signum).name)
                return

    async def _start_discovery(self, nursery: trio.Nursery) -> None:
        """discv5 beside the libp2p host, with its key; dials found peers of our chain."""
        from beacon.p2p.discv5.enr import ENRForkID
        from beacon.p2p.discv5.service import DiscoveryService

        fork = ENRForkID.for_chain(self.fork_version, self.chain.genesis_root)
        self.discovery = DiscoveryService(self.p2p.host, self.options.datadir, fork, self.options.discovery,
                                          peer_count=lambda: len(self.p2p.peers()))
        await nursery.start(self.discovery.run)

    async def _start_servers(self, nursery: trio.Nursery) -> None:
        from starlette.routing import Route

        o = self.options
        if o.http_port is not None:
            from beacon.api.ops import OpsApi

            routes = [*self.views.routes(), *self.api_v1.routes(), *OpsApi(self).routes(), *self.chaos_api.routes(),
                      Route("/eth/v1/events", self.event_stream.endpoint, methods=["GET"])]
            port = await nursery.start(serve, make_app(routes), o.http_address, o.http_port, "api")
            log.info("HTTP API on http://%s:%d/node/status and /eth/v1", o.http_address, port)
        if o.metrics_port is not None:
            port = await nursery.start(serve, make_app(self.views.metrics_routes()), o.metrics_address,
                                       o.metrics_port, "metrics")
            log.info("metrics on http://%s:%d/metrics", o.metrics_address, port)

    async def _slot_loop(self, nursery: trio.Nursery) -> None:
        clock = self.clock

        def waiting(left: float) -> None:
            log.info("waiting for genesis in %d s", round(left))

        await clock.wait_for_genesis(on_wait=waiting)
        last: Optional[int] = None
        first = True
        async for slot in clock.slots():
            if last is not None and slot > last + 1:
                log.warning("slots %d..%d passed without us (the node was stalled or stopped)", last + 1, slot - 1)
                if self.validator is not None:
                    self.validator.account_skipped_slots(range(last + 1, slot))
            last = slot
            problem = datadir_write_problem(self.options.datadir)
            if problem is not None:
                self.storage_failed(StoreWriteError(problem))
                return
            try:
                self.chain.on_tick(clock.now())  # may import held blocks: writes
                self.chain.update_head()
            except STORAGE_FAILURES as e:
                self.storage_failed(e)
                return
            if first:
                first = False
                # The start is over: what an operator (and benchmarks/node_start.py) times.
                log.info("first slot %d handled, head slot %d; %.1f s CPU since the process started", slot,
                         self.chain.head.slot, time.process_time(),
                         extra={"fields": {"first_slot": slot, "cpu_s": round(time.process_time(), 3)}})
            if slot % self.config.SLOTS_PER_EPOCH == 0:
                self.attestation_pool.prune(clock.epoch_of(slot))
            if self.validator is not None:
                try:
                    await self.validator.propose(slot)
                except STORAGE_FAILURES as e:
                    self.storage_failed(e)
                    return
                except Exception:  # noqa: BLE001 - the loop must survive any one duty
                    log.exception("slot %d: proposer duty failed", slot)
                nursery.start_soon(self._attest, slot)
            nursery.start_soon(self._report, slot)

    async def _attest(self, slot: int) -> None:
        assert self.validator is not None
        # The block of the slot, or one third of the slot, whichever comes first. Slot 0's block
        # is the genesis block, which every node has: nothing to wait for.
        if slot > 0:
            with trio.move_on_after(max(0.0, self.clock.slot_fraction(slot, 1 / 3) - self.clock.now())):
                await self._slot_event(slot).wait()
        try:
            await self.validator.attest(slot, deadline=self.clock.slot_start(slot + 1))
        except STORAGE_FAILURES as e:
            self.storage_failed(e)
        except Exception:  # noqa: BLE001
            log.exception("slot %d: attester duty failed", slot)

    async def _report(self, slot: int) -> None:
        await self.clock.sleep_until(self.clock.slot_fraction(slot, 2 / 3))
        try:
            self.chain.on_tick(self.clock.now())
            head = self.chain.update_head()
        except STORAGE_FAILURES as e:
            self.storage_failed(e)
            return
        self.refresh_metrics()
        just, fin = self.chain.justified_checkpoint, self.chain.finalized_checkpoint
        peers = len(self.p2p.peers())
        tally = self.validator.tally(slot) if self.validator else None
        duties = ""
        if tally is not None:
            duties = f" | proposed {tally.proposed} attested {tally.attested}"
            if tally.declined or tally.missed:
                duties += f" declined {tally.declined} missed {tally.missed}"
        sync = " | syncing" if self.is_syncing() else ""
        epoch = slot // self.config.SLOTS_PER_EPOCH
        fields = {"slot": slot, "epoch": epoch, "head_slot": head.slot, "head_root": "0x" + head.root.hex(),
                  "justified_epoch": int(just.epoch), "finalized_epoch": int(fin.epoch), "peers": peers}
        if tally is not None:
            fields.update(proposed=tally.proposed, attested=tally.attested, declined=tally.declined,
                          missed=tally.missed)
        log.info("slot %d epoch %d | head %d 0x%s.. | justified %d | finalized %d | peers %d%s%s", slot, epoch,
                 head.slot, head.root.hex()[:4], int(just.epoch), int(fin.epoch), peers, duties, sync,
                 extra={"fields": fields})


def default_datadir(preset: str, genesis_root: bytes) -> Path:
    """~/.pybeacon/<preset>-<genesis root prefix>: one directory per chain, so two chains never
    meet in one datadir by accident."""
    base = Path(os.environ.get("PYBEACON_HOME", Path.home() / ".pybeacon"))
    return base / f"{preset}-{genesis_root.hex()[:8]}"
