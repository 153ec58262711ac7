"""Peer manager: who we are connected to, in which direction, whether the Hello
handshake is done, each peer's dialect, and a simple misbehaviour score.

The Hello rule (p2p-interface.md, "Hello"): the side that opened the connection sends
Hello first; the other side answers with its own. Some 2019 peers (Trinity) never sent
Hello, not even on connections they dialled: an inbound peer silent for HELLO_GRACE gets
ours, and its answer completes the handshake. Peer heads move on without a new Hello, so
every active peer is asked again once per epoch (`ChainView.seconds_per_epoch`), and
each answer reaches the `on_status` hooks (sync). Each side judges the other:
  * fork_version differs                                   -> Goodbye(2), disconnect
  * their finalized (root, epoch) conflicts with our chain -> Goodbye(2), disconnect
We only call a finalized checkpoint conflicting when its epoch is at or below our own
finalized epoch (our chain there is final, so a different root cannot be reconciled)
and above 0 (at epoch 0 clients send the zero root, there is nothing to compare).
On shutdown every peer gets Goodbye(1).
"""
from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import trio
from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.peer.id import ID
from multiaddr import Multiaddr

from . import messages as m
from . import reqresp
from .dialect import Dialect, Dialects
from .host import P2PHost, connection_direction
from .interface import ChainView

log = logging.getLogger(__name__)

HELLO_GRACE = 2.0  # an inbound peer silent this long gets our Hello instead
GOODBYE_TIMEOUT = 2.0  # how long we try to deliver a Goodbye before closing anyway
BAN_SECONDS = 600.0  # a peer dropped for its score may not reconnect before this

# Scoring: every offence costs points; at DISCONNECT_SCORE the peer is dropped with
# Goodbye(3) and banned for a while. Good behaviour slowly earns points back.
PENALTY_INVALID_GOSSIP = 10
PENALTY_BAD_REQUEST = 10
PENALTY_BAD_RESPONSE = 10
DISCONNECT_SCORE = -50
RECOVERY_PER_MINUTE = 5


class HandshakeState(enum.Enum):
    CONNECTED = "connected"  # no Hello yet
    HELLO_SENT = "hello_sent"  # we dialled and sent ours, awaiting the answer
    ACTIVE = "active"  # Hello exchanged and accepted
    DISCONNECTING = "disconnecting"  # Goodbye sent or received


@dataclass
class Peer:
    peer_id: ID
    direction: str  # "inbound" | "outbound"
    connected_at: float = field(default_factory=time.monotonic)
    state: HandshakeState = HandshakeState.CONNECTED
    hello: m.HelloMessage | None = None
    score: int = 0
    offences: list[str] = field(default_factory=list)
    goodbye_received: int | None = None
    goodbye_sent: int | None = None
    conn: INetConn | None = None  # the connection this record was made for


class _Notifee(INotifee):
    """Forwards swarm connect/disconnect events into the manager (never blocks)."""

    def __init__(self, manager: "PeerManager") -> None:
        self._manager = manager

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._manager._on_connected(conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._manager._on_disconnected(conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        return None


PeerCallback = Callable[[Peer], Awaitable[None]]


class PeerManager:
    """Runs the handshake for every connection and implements reqresp.PeerEvents."""

    def __init__(self, host: P2PHost, chain: ChainView, restatus_interval: float | None = None) -> None:
        self.host = host
        self.chain = chain
        self.restatus_interval = restatus_interval  # None: once per epoch
        self.peers: dict[ID, Peer] = {}
        self.banned: dict[ID, float] = {}  # peer -> monotonic time the ban ends
        # ("sent" | "received", peer, reason) for every Goodbye; outlives the Peer record.
        self.goodbyes: list[tuple[str, ID, int]] = []
        self.dialects = Dialects()
        self.server = reqresp.ReqRespServer(host.libp2p, chain, self, self.dialects)
        # Hooks for metrics: called once a peer's Hello is accepted.
        self.on_peer_active: list[PeerCallback] = []
        # Hooks for sync: called on every accepted Hello (the first and each re-status).
        self.on_status: list[PeerCallback] = []
        self._nursery: trio.Nursery | None = None
        self._changed = trio.Event()  # pulsed on every state change (tests wait on it)
        self._shutting_down = False

    # -- lifecycle -----------------------------------------------------------------

    def install(self) -> None:
        """Register the req/resp protocols and the connection notifee (before run)."""
        self.server.register()
        self.host.ban_remaining = self.ban_remaining  # type: ignore[method-assign]
        self.host.libp2p.get_network().register_notifee(_Notifee(self))
        self.host.on_stream_garbage = self.on_stream_garbage

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            # Connections made before we started (static peers dial early) get their
            # handshake now.
            for peer_id in list(self.host.libp2p.get_network().connections):
                conn = self.host.connection_to(peer_id)
                if conn is not None and peer_id not in self.peers:
                    self._on_connected(conn)
            nursery.start_soon(self._recover_scores)
            nursery.start_soon(self._restatus_loop)
            task_status.started()
            await trio.sleep_forever()

    async def shutdown(self) -> None:
        """Goodbye(1) to every peer, concurrently and bounded in time, then disconnect."""
        self._shutting_down = True
        async with trio.open_nursery() as nursery:
            for peer_id in list(self.peers):
                nursery.start_soon(self.goodbye_and_disconnect, peer_id, m.GoodbyeReason.CLIENT_SHUTDOWN)

    # -- connection events ---------------------------------------------------------

    def _on_connected(self, conn: INetConn) -> None:
        peer_id: ID = conn.muxed_conn.peer_id
        if self._nursery is None:
            return
        old = self.peers.get(peer_id)
        log.debug("connection %s %s (record: %s)", connection_direction(conn), peer_id,
                  "none" if old is None else old.state.value)
        if old is not None and not self._superseded(old, conn):
            return
        # A reconnect can arrive before the swarm has notified the old connection's end
        # (seen with a dropped peer redialling at once): the old record, already
        # DISCONNECTING, must not stand for the new connection, or the new one would skip
        # the ban check and the handshake and never be dropped again.
        direction = connection_direction(conn)
        peer = Peer(peer_id, direction, conn=conn)
        self.peers[peer_id] = peer
        self._pulse()
        try:
            if self._is_banned(peer_id) or self._shutting_down:
                self._nursery.start_soon(self.goodbye_and_disconnect, peer_id, m.GoodbyeReason.FAULT_OR_ERROR)
            elif direction == "outbound":
                self._nursery.start_soon(self._say_hello, peer, conn)
            else:
                self._nursery.start_soon(self._await_hello, peer)
        except RuntimeError:
            # The node is stopping and our nursery has closed: the swarm closes this
            # connection with the rest, nothing to say to it.
            log.debug("connection %s arrived while stopping; left to the swarm's shutdown", peer_id)

    @staticmethod
    def _superseded(old: Peer, conn: INetConn) -> bool:
        """Does `conn` replace the connection `old` was made for (which is gone or going)?"""
        if old.conn is None or old.conn is conn:
            return False
        return old.state is HandshakeState.DISCONNECTING or bool(getattr(old.conn, "is_closed", False))

    def _on_disconnected(self, conn: INetConn) -> None:
        peer_id: ID = conn.muxed_conn.peer_id
        # The swarm notifies before it drops `conn` from its table, so look for a
        # *different* live connection to this peer.
        others = [c for c in self.host.libp2p.get_network().get_connections(peer_id) if c is not conn and not c.is_closed]
        if others:
            return
        if self.peers.pop(peer_id, None) is not None:
            log.info("peer %s disconnected", peer_id)
        self.host.notify_disconnected(peer_id)
        self._pulse()

    def dialect(self, peer_id: ID) -> Dialect:
        return self.dialects.of(peer_id)

    # -- the handshake -------------------------------------------------------------

    def local_hello(self) -> m.HelloMessage:
        finalized = self.chain.finalized_checkpoint()
        head_root, head_slot = self.chain.head()
        return m.HelloMessage(
            fork_version=self.chain.fork_version(),
            finalized_root=finalized.root,
            finalized_epoch=finalized.epoch,
            head_root=head_root,
            head_slot=head_slot,
        )

    async def _say_hello(self, peer: Peer, conn: INetConn | None = None) -> None:
        started = getattr(conn, "event_started", None)
        if started is not None:
            await started.wait()
        if peer.state is HandshakeState.CONNECTED:
            peer.state = HandshakeState.HELLO_SENT
        try:
            theirs = await reqresp.send_hello(self.host.libp2p, peer.peer_id, self.local_hello(),
                                              self.dialects.of(peer.peer_id))
        except reqresp.ProtocolUnsupported as e:
            # Not an offence, but without a status exchange we cannot follow it.
            log.info("peer %s speaks no Hello/Status protocol (%s); disconnecting", peer.peer_id, e)
            await self.goodbye_and_disconnect(peer.peer_id, m.GoodbyeReason.IRRELEVANT_NETWORK)
            return
        except reqresp.ErrorResponse as e:
            log.info("peer %s refused our Hello: %s", peer.peer_id, e)
            await self.goodbye_and_disconnect(peer.peer_id, m.GoodbyeReason.FAULT_OR_ERROR)
            return
        except reqresp.ReqRespError as e:
            if self.peers.get(peer.peer_id) is peer and peer.state is not HandshakeState.DISCONNECTING:
                log.info("Hello to %s failed: %s", peer.peer_id, e)
                if peer.state is HandshakeState.ACTIVE:
                    return  # a re-status that failed: the next one may work
                self.penalize(peer.peer_id, PENALTY_BAD_RESPONSE, f"hello failed: {e}")
                await self.goodbye_and_disconnect(peer.peer_id, m.GoodbyeReason.FAULT_OR_ERROR)
            return
        await self._judge(peer, theirs)

    async def _await_hello(self, peer: Peer) -> None:
        """An inbound peer should open with its Hello; one that does not (a 2019 dialect)
        gets ours after HELLO_GRACE, and its answer completes the handshake."""
        with trio.move_on_after(HELLO_GRACE):
            while self.peers.get(peer.peer_id) is peer and peer.hello is None:
                await self._changed.wait()
            return
        if self.peers.get(peer.peer_id) is peer and peer.hello is None and peer.state is HandshakeState.CONNECTED:
            log.debug("peer %s sent no Hello in %.0fs; sending ours", peer.peer_id, HELLO_GRACE)
            self.dialects.of(peer.peer_id).sends_hello = False
            await self._say_hello(peer)

    async def _restatus_loop(self) -> None:
        """Hello again with every active peer once per epoch: heads move on without one."""
        while True:
            await trio.sleep(max(0.5, self.restatus_interval or self.chain.seconds_per_epoch()))
            for peer in self.active_peers():
                if self._nursery is not None:
                    self._nursery.start_soon(self._say_hello, peer)

    async def on_hello(self, peer_id: ID, hello: m.HelloMessage) -> None:
        """Their Hello arrived on a stream they opened (we already answered)."""
        peer = self.peers.get(peer_id)
        if peer is None:
            return
        await self._judge(peer, hello)

    def hello_verdict(self, hello: m.HelloMessage) -> str | None:
        """None if the peer is on our network; else the reason to send Goodbye(2)."""
        ours = self.chain.fork_version()
        if hello.fork_version != ours:
            return f"fork_version {hello.fork_version.hex()} != ours {ours.hex()}"
        local_final = self.chain.finalized_checkpoint()
        if 0 < hello.finalized_epoch <= local_final.epoch:
            our_root = self.chain.checkpoint_root_at_epoch(hello.finalized_epoch)
            # Either name of the block will do (some peers used hash_tree_root).
            if our_root is not None and our_root not in (hello.finalized_root, self.chain.block_name(hello.finalized_root)):
                return (
                    f"finalized root {hello.finalized_root.hex()} at epoch {hello.finalized_epoch} "
                    f"conflicts with our {our_root.hex()}"
                )
        return None

    async def _judge(self, peer: Peer, hello: m.HelloMessage) -> None:
        peer.hello = hello
        self.learn_naming(peer.peer_id, hello.head_root)
        self._pulse()
        reason = self.hello_verdict(hello)
        if reason is not None:
            log.info("peer %s is on another network: %s", peer.peer_id, reason)
            await self.goodbye_and_disconnect(peer.peer_id, m.GoodbyeReason.IRRELEVANT_NETWORK)
            return
        if peer.state is HandshakeState.DISCONNECTING:
            return
        first = peer.state is not HandshakeState.ACTIVE
        peer.state = HandshakeState.ACTIVE
        self._pulse()
        if first:
            log.info(
                "peer %s (%s) active: finalized epoch %d, head slot %d",
                peer.peer_id, peer.direction, hello.finalized_epoch, hello.head_slot,
            )
            for callback in self.on_peer_active:
                await callback(peer)
        for callback in self.on_status:
            await callback(peer)

    def learn_naming(self, peer_id: ID, root: bytes) -> None:
        """Does the peer name blocks by signing_root (v0.8.3) or by hash_tree_root? A root
        it sent (its Hello head) tells, once we know that block."""
        ours = self.chain.block_name(root)
        if ours is not None and root != b"\x00" * 32:
            self.dialects.of(peer_id).names_blocks_by_hash_tree_root = ours != root

    # -- goodbye -----------------------------------------------------------------

    async def on_goodbye(self, peer_id: ID, reason: int) -> None:
        peer = self.peers.get(peer_id)
        log.info("peer %s said Goodbye (reason %d)", peer_id, reason)
        self.goodbyes.append(("received", peer_id, reason))
        if peer is not None:
            peer.goodbye_received = reason
            peer.state = HandshakeState.DISCONNECTING
            self._pulse()
        await self.host.disconnect(peer_id)

    async def goodbye_and_disconnect(self, peer_id: ID, reason: int) -> None:
        peer = self.peers.get(peer_id)
        if peer is not None:
            if peer.goodbye_sent is not None:
                return  # already on its way out
            peer.goodbye_sent = reason
            peer.state = HandshakeState.DISCONNECTING
            self._pulse()
        self.goodbyes.append(("sent", peer_id, reason))
        with trio.move_on_after(GOODBYE_TIMEOUT):
            try:
                await reqresp.send_goodbye(self.host.libp2p, peer_id, reason)
                # Give the peer a moment to read it before the connection goes away.
                await trio.sleep(0.1)
            except Exception as e:  # best effort: the peer is going whatever happened to its Goodbye
                log.debug("Goodbye to %s not delivered: %s", peer_id, e)
        with trio.CancelScope(shield=True):
            try:
                await self.host.disconnect(peer_id)
            except Exception as e:
                log.debug("disconnect %s: %r", peer_id, e)
            # py-libp2p's close_peer pops the peer's whole entry after closing the
            # connections it listed, so a reconnect registered meanwhile stays open but
            # unlisted (a banned peer kept talking): close our record's own connection too.
            conn = peer.conn if peer is not None else None
            if conn is not None and not getattr(conn, "is_closed", False):
                try:
                    await conn.close()
                except Exception as e:
                    log.debug("close connection to %s: %r", peer_id, e)

    # -- scoring -------------------------------------------------------------------

    def penalize(self, peer_id: ID, points: int, reason: str) -> None:
        peer = self.peers.get(peer_id)
        if peer is None:
            return
        peer.score -= points
        peer.offences.append(reason)
        log.debug("peer %s -%d (%s): score %d", peer_id, points, reason, peer.score)
        self._pulse()
        if peer.score <= DISCONNECT_SCORE and peer.goodbye_sent is None and self._nursery is not None:
            log.info("dropping peer %s: score %d after %s", peer_id, peer.score, reason)
            self.banned[peer_id] = time.monotonic() + BAN_SECONDS
            self._nursery.start_soon(self.goodbye_and_disconnect, peer_id, m.GoodbyeReason.FAULT_OR_ERROR)

    def on_bad_request(self, peer_id: ID, protocol: str, reason: str) -> None:
        self.penalize(peer_id, PENALTY_BAD_REQUEST, f"{protocol}: {reason}")

    def on_stream_garbage(self, peer_id: ID, what: str) -> None:
        self.penalize(peer_id, PENALTY_BAD_REQUEST, f"garbage stream: {what}")

    def on_invalid_gossip(self, peer_id: ID, topic: str) -> None:
        self.penalize(peer_id, PENALTY_INVALID_GOSSIP, f"invalid gossip on {topic}")

    def ban_remaining(self, peer_id: ID) -> float:
        return max(0.0, self.banned.get(peer_id, 0.0) - time.monotonic())

    def _is_banned(self, peer_id: ID) -> bool:
        until = self.banned.get(peer_id)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self.banned[peer_id]
            return False
        return True

    async def _recover_scores(self) -> None:
        while True:
            await trio.sleep(60)
            for peer in self.peers.values():
                peer.score = min(0, peer.score + RECOVERY_PER_MINUTE)

    # -- queries (for tests, sync, metrics) ------------------------------------------

    def active_peers(self) -> list[Peer]:
        return [p for p in self.peers.values() if p.state is HandshakeState.ACTIVE]

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` holds (re-checked on every state change)."""
        with trio.move_on_after(timeout):
            while not predicate():
                with trio.move_on_after(0.1):  # also poll: connection state changes elsewhere
                    await self._changed.wait()
            return True
        return predicate()
