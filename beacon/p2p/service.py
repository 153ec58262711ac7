"""The p2p service the node runs: host, peer manager, gossip and sync over one Chain.

    service = P2PService(chain, datadir=d, listen_address="0.0.0.0", port=9000,
                         static_peers=[...], config=P2PConfig(), log=logger)
    multiaddr = await nursery.start(service.run)     # listening, gossip subscribed
    await service.publish_block(block)               # imports first if new, then gossips
    await service.publish_attestation(attestation)
    service.peers(); service.multiaddr(); service.is_syncing()
    await service.shutdown()                         # Goodbye(1) to all; run() returns

Cancelling run() instead of calling shutdown() closes connections without Goodbye.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import trio
from libp2p.peer.id import ID

from .chain_view import GOSSIP_CLOCK_DISPARITY, ChainAdapter
from .constants import (TOPIC_ATTESTER_SLASHING, TOPIC_BEACON_ATTESTATION, TOPIC_BEACON_BLOCK,
                        TOPIC_PROPOSER_SLASHING, TOPIC_VOLUNTARY_EXIT)
from .gossip import Gossip, GossipConfig
from .host import HostConfig, P2PHost
from .interface import GossipVerdict, ImportResult
from .peers import PeerManager
from .sync import BATCH_SIZE, SyncManager


@dataclass
class P2PConfig:
    """Tunables of the p2p service; the defaults are the interop profile's."""

    gossip: GossipConfig = field(default_factory=GossipConfig)
    sync_batch_size: int = BATCH_SIZE
    clock: Callable[[], float] = time.time  # Unix time for gossip timing checks
    clock_disparity: float = GOSSIP_CLOCK_DISPARITY
    dial_attempts: int = 4
    max_connections: int = 100
    restatus_interval: float | None = None  # s between Hellos with each peer; None: one epoch


class P2PService:
    def __init__(
        self,
        chain: Any,  # beacon.chain.Chain
        *,
        datadir: str | Path,
        listen_address: str = "0.0.0.0",
        port: int = 9000,
        static_peers: Sequence[str] = (),
        config: P2PConfig | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.config = config or P2PConfig()
        if not isinstance(self.config, P2PConfig):
            raise TypeError(f"config must be a beacon.p2p.service.P2PConfig, not {type(self.config).__name__}")
        self.log = log or logging.getLogger("beacon.p2p")
        self.chain = chain
        self.view = ChainAdapter(chain, clock=self.config.clock, clock_disparity=self.config.clock_disparity)
        host_config = HostConfig(
            listen_address=listen_address,
            port=port,
            static_peers=tuple(static_peers),
            dial_attempts=self.config.dial_attempts,
            max_connections=self.config.max_connections,
        )
        # The node key lives in the datadir (created once, reused: a stable peer id).
        self.host = P2PHost.from_datadir(Path(datadir), host_config)
        self.peer_manager = PeerManager(self.host, self.view, self.config.restatus_interval)
        self.sync = SyncManager(self.host, self.peer_manager, self.view, batch_size=self.config.sync_batch_size)
        self.peer_manager.on_status.append(self.sync.on_peer_status)
        self.gossip = Gossip(
            self.host,
            self.view.validate_gossip,
            on_invalid=self.peer_manager.on_invalid_gossip,
            on_verdict=self._on_verdict,
            config=self.config.gossip,
            dialects=self.peer_manager.dialects,
        )
        self._stop = trio.Event()
        self._running = False
        # Slashings the chain found in what we saw: gossiped from a task (found synchronously,
        # inside a validator or an import). Bounded: slashings are rare, a flood is dropped.
        self._found_send, self._found_recv = trio.open_memory_channel[tuple[str, Any]](64)
        self.view.gossip.on_slashing.append(self._on_slashing_found)

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, handshake, gossip and sync until shutdown(); reports the multiaddr."""
        self.peer_manager.install()
        async with trio.open_nursery() as nursery:
            async with self.host.run():
                await nursery.start(self.peer_manager.run)
                async with self.gossip.run():
                    await nursery.start(self.sync.run)
                    nursery.start_soon(self._publish_found)
                    self._running = True
                    self.log.info("p2p service up at %s", self.multiaddr())
                    task_status.started(self.multiaddr())
                    await self._stop.wait()
                    self._running = False
                nursery.cancel_scope.cancel()

    async def shutdown(self) -> None:
        """Goodbye(1) to every peer (bounded in time), then make run() return."""
        try:
            if self._running:
                await self.peer_manager.shutdown()
        finally:
            self._stop.set()

    # -- publishing --------------------------------------------------------------------

    async def publish_block(self, block: Any) -> None:
        """Gossip a block of ours. It is imported first if the chain lacks it; a block
        the chain refuses is not sent (ValueError)."""
        data = block.serialize()
        if not self.chain.has_block(block.signing_root()):
            (outcome,) = await self.view.import_blocks([data])
            if outcome.result not in (ImportResult.IMPORTED, ImportResult.KNOWN):
                raise ValueError(f"not publishing a block the chain refused: {outcome.result.value} {outcome.reason}")
        await self.gossip.publish(TOPIC_BEACON_BLOCK, data, prevalidated=True)

    async def publish_attestation(self, attestation: Any) -> None:
        """Gossip an attestation of ours (handed to fork choice as well)."""
        res = self.chain.import_attestation(attestation)
        if res.status.value == "invalid":
            raise ValueError(f"not publishing an attestation the chain refused: {res.reason}")
        await self.gossip.publish(TOPIC_BEACON_ATTESTATION, attestation.serialize(), prevalidated=True)

    async def publish_voluntary_exit(self, exit_: Any) -> None:
        """Gossip a voluntary exit the caller has judged valid (the API's pool endpoint)."""
        self.view.gossip.remember_operation("voluntary_exit", exit_)
        await self.gossip.publish(TOPIC_VOLUNTARY_EXIT, exit_.serialize(), prevalidated=True)

    def _on_slashing_found(self, kind: str, op: Any) -> None:
        try:
            self._found_send.send_nowait((kind, op))
        except trio.WouldBlock:
            self.log.warning("dropping a found %s: %d are already waiting to be gossiped", kind, 64)

    async def _publish_found(self) -> None:
        topics = {"proposer_slashing": TOPIC_PROPOSER_SLASHING, "attester_slashing": TOPIC_ATTESTER_SLASHING}
        async for kind, op in self._found_recv:
            try:
                # Checked by the chain already (and pooled: our own validator would IGNORE it).
                await self.gossip.publish(topics[kind], op.serialize(), prevalidated=True)
                self.log.info("gossiped a %s (%d peers on the topic)", kind, len(self.gossip.topic_peers(topics[kind])))
            except Exception as e:  # noqa: BLE001 - no peers / a refused payload: the block still carries it
                self.log.warning("gossiping a %s failed: %s", kind, e)

    async def publish(self, topic: str, data: bytes) -> None:
        """Gossip raw SSZ on a topic; our own validator judges it first."""
        await self.gossip.publish(topic, data)

    # -- queries -----------------------------------------------------------------------

    def multiaddr(self) -> str:
        return self.host.multiaddr()

    def is_syncing(self) -> bool:
        return self.sync.is_syncing()

    def peers(self) -> list[dict[str, Any]]:
        out = []
        for peer in list(self.peer_manager.peers.values()):
            conn = self.host.connection_to(peer.peer_id)
            address = _remote_multiaddr(conn) if conn is not None else ""
            head = self.sync.peer_head(peer.peer_id)
            head_slot = head.slot if head is not None else (peer.hello.head_slot if peer.hello else None)
            out.append({
                "id": str(peer.peer_id),
                "address": address,
                "direction": peer.direction,
                "head_slot": head_slot,
                "state": peer.state.value,
                "score": peer.score,
                "dialect": self.peer_manager.dialect(peer.peer_id).summary(),
            })
        return out

    # -- gossip -> sync ----------------------------------------------------------------

    def _on_verdict(self, forwarder: ID, topic: str, data: bytes, verdict: GossipVerdict) -> None:
        if topic == TOPIC_BEACON_BLOCK and verdict is GossipVerdict.ACCEPT:
            # The forwarder validated this block, so it has it: a head hint for sync.
            ident = self.view.block_identity(data)
            if ident is not None:
                self.sync.note_peer_head(forwarder, ident[1], ident[0], ident[2])
        elif verdict is GossipVerdict.IGNORE and topic in (TOPIC_BEACON_BLOCK, TOPIC_BEACON_ATTESTATION):
            if self.view.missing_roots():
                ident = self.view.block_identity(data) if topic == TOPIC_BEACON_BLOCK else None
                self.sync.on_orphan(forwarder, ident)


def _remote_multiaddr(conn: Any) -> str:
    """/ip4/<ip>/tcp/<port> of the remote end of a connection, or "".

    py-libp2p 0.8.1 cannot tell for SecIO connections: SecureSession asks the SecIO
    read-writer for a `.conn` it lacks (docs/interop.md #7), and the swarm's fallback
    reads the peerstore, logging a warning for inbound peers. So walk down the wrapper
    layers to the TCP stream, which knows its peer address.
    """
    layer = getattr(conn, "muxed_conn", None)
    for _ in range(8):
        if layer is None:
            break
        if type(layer).__name__ == "TrioTCPStream":
            try:
                remote = layer.get_remote_address()
            except Exception:
                return ""
            return f"/ip4/{remote[0]}/tcp/{remote[1]}" if remote else ""
        layer = next((getattr(layer, a) for a in ("secured_conn", "conn", "read_writer", "read_write_closer", "stream")
                      if getattr(layer, a, None) is not None), None)
    return ""
