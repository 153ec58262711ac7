"""The libp2p host of the interop profile, on trio.

TCP on IPv4; multistream-select 1.0; SecIO only (P-256 / AES-128 / SHA256) with a
secp256k1 identity; mplex /mplex/6.7.0 only; identify (built into py-libp2p's BasicHost).
py-libp2p 0.8.1 defaults differ on nearly every one of these (Ed25519 keys, Noise/TLS/
plaintext offered, yamux preferred, an auto-connector that redials any known peer), so
every choice is passed explicitly here. docs/interop.md lists them with line references.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import random
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable, Sequence

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import TProtocol
from libp2p.exceptions import ParseError
from libp2p.network.auto_connector import AutoConnector
from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.protocol_muxer.multiselect_communicator import MultiselectCommunicator
from libp2p.security.secio import transport as secio
from libp2p.stream_muxer.mplex.mplex import Mplex

from .constants import MPLEX_ID, SECIO_ID
from .identity import load_or_create_node_key, peer_id_of

log = logging.getLogger(__name__)


class _DropSecioObservedAddrError(logging.Filter):
    """identify.py logs ERROR "Error getting remote address" on every SecIO connection
    (SecureSession asks SecioMsgReadWriter for a `.conn` it lacks; docs/interop.md #7).
    Known and harmless for us: keep it out of the node's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error getting remote address")


class _DropUnsupportedProtocolError(logging.Filter):
    """basic_host.py logs ERROR "Failed to open stream ..." when a peer answers `na` to
    every protocol offered: identify refused (Trinity), or a request name it does not
    speak. Both are dialects, handled and logged by us at DEBUG (reqresp.open_stream)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not (text.startswith("Failed to open stream") and "not supported" in text)


class _DropAddConnAfterStop(logging.Filter):
    """swarm.py logs WARNING "[ADDCONN_FAIL] ..." with a whole traceback when a connection
    arrives while the swarm is stopping (LifecycleError: "Cannot schedule task after service
    has stopped"): peers that dial us as we shut down. Nothing is lost; keep the log clean."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (str(record.msg).startswith("[ADDCONN_FAIL]")
                    and any(type(a).__name__ == "LifecycleError" for a in record.args or ()))


def _adopt_libp2p_logging() -> None:
    # Importing libp2p runs its setup_logging(), which (without LIBP2P_DEBUG) detaches
    # the "libp2p" logger (propagate=False, no handlers), so its warnings bypass the
    # node's log configuration and reach stderr raw. Re-attach it to ours.
    if not os.environ.get("LIBP2P_DEBUG"):
        logging.getLogger("libp2p").propagate = True
    logging.getLogger("libp2p.identity.identify.identify").addFilter(_DropSecioObservedAddrError())
    logging.getLogger("libp2p.host.basic_host").addFilter(_DropUnsupportedProtocolError())
    logging.getLogger("libp2p.network.swarm").addFilter(_DropAddConnAfterStop())


_adopt_libp2p_logging()

DEFAULT_PORT = 9000
DEFAULT_LISTEN_ADDRESS = "0.0.0.0"


class _NoAutoConnector(AutoConnector):
    """py-libp2p's swarm runs an AutoConnector that dials peers from the peerstore
    whenever it has fewer than (low+high watermark)/2 connections (network/swarm.py
    run(), network/auto_connector.py maybe_connect). That would undo every Goodbye and
    dial peers we never chose; the peer manager and static-peer keeper decide instead."""

    async def start(self) -> None:
        return None

    async def run_background_task(self, nursery: trio.Nursery) -> None:
        return None

    async def maybe_connect(self) -> None:
        return None


class DialError(Exception):
    """Every attempt to reach a peer failed."""


@dataclass
class HostConfig:
    listen_address: str = DEFAULT_LISTEN_ADDRESS
    port: int = DEFAULT_PORT  # 0 picks a free port (tests)
    static_peers: Sequence[str] = ()  # full multiaddrs with /p2p/<id>
    # A SecIO handshake fails about 1 time in 256 against an implementation that pads
    # the ECDH secret differently (py-libp2p trims leading zero bytes), so one failed
    # handshake is expected noise: retry a few times with a short pause.
    dial_attempts: int = 4
    dial_retry_delay: float = 0.25
    # Static peers lost or unreachable are redialled with exponential backoff.
    redial_initial_delay: float = 1.0
    redial_max_delay: float = 60.0
    max_connections: int = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The p2p flags of `pybeacon node` (the node CLI owns --datadir)."""
    g = parser.add_argument_group("p2p")
    g.add_argument("--listen-address", default=DEFAULT_LISTEN_ADDRESS, help="IPv4 address to listen on")
    g.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port for libp2p")
    g.add_argument(
        "--peer",
        dest="static_peers",
        action="append",
        default=[],
        metavar="MULTIADDR",
        help="static peer /ip4/../tcp/../p2p/<id>, redialled when lost (repeatable)",
    )


def config_from_args(args: argparse.Namespace) -> HostConfig:
    return HostConfig(listen_address=args.listen_address, port=args.port, static_peers=tuple(args.static_peers))


def build_libp2p_host(key_pair: KeyPair, config: HostConfig) -> IHost:
    """A py-libp2p BasicHost restricted to the interop profile."""
    listen = multiaddr.Multiaddr(f"/ip4/{config.listen_address}/tcp/{config.port}")
    host = new_host(
        key_pair=key_pair,
        # Only SecIO: new_host's default also offers Noise, TLS and /plaintext/2.0.0.
        sec_opt={TProtocol(SECIO_ID): secio.Transport(key_pair)},
        # Only mplex: the default prefers /yamux/1.0.0.
        muxer_opt={TProtocol(MPLEX_ID): Mplex},
        listen_addrs=[listen],
        enable_tcp=True,
        connection_config=ConnectionConfig(
            max_connections=config.max_connections,
            high_watermark=config.max_connections,
            # The auto-connector is replaced (_NoAutoConnector); min_connections=0 also
            # leaves every inbound slot open (inbound cap = max - min).
            min_connections=0,
            low_watermark=0,
            max_connections_per_peer=1,
        ),
    )
    swarm = host.get_network()
    # The swarm retries each dial 3 times by itself (RetryConfig default); we retry in
    # P2PHost.dial instead, so attempts are counted and logged in one place.
    swarm.retry_config = RetryConfig(max_retries=0)  # type: ignore[attr-defined]
    swarm.auto_connector = _NoAutoConnector(swarm=swarm)  # type: ignore[attr-defined]
    # py-libp2p 0.8.1 takes an inbound slot per accepted connection and holds it until the
    # swarm stops (swarm.py _do_handle_inbound_connection awaits manager.wait_finished()
    # after the upgrade), so after max_connections inbound connections in a node's life -
    # reconnects and restarted peers included - every new inbound connection was closed
    # unanswered. Live connections stay capped by max_connections, which the swarm checks
    # before the handshake and again when it registers the connection.
    assert hasattr(swarm, "_inbound_limiter"), "py-libp2p changed its inbound limiter"
    swarm._inbound_limiter = trio.CapacityLimiter(math.inf)  # type: ignore[attr-defined]
    return host


def ensure_port_free(address: str, port: int) -> None:
    """Raise OSError if another process already listens on (address, port).

    py-libp2p's TCP listener sets SO_REUSEPORT (transport/tcp/tcp.py, for hole
    punching), so a second node on the same port starts "successfully" and the kernel
    splits incoming connections between the two. A plain bind (no SO_REUSEPORT) fails
    against any listener there, which turns that into a clear error.
    """
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        probe.bind((address, port))
    except OSError as e:
        raise OSError(e.errno, f"cannot listen on {address}:{port}: {e.strerror}") from e
    finally:
        probe.close()


def parse_peer_multiaddr(text: str) -> PeerInfo:
    """`/ip4/1.2.3.4/tcp/9000/p2p/16Uiu2...` -> PeerInfo; ValueError on anything else."""
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(text))
    except Exception as e:  # multiaddr raises several unrelated types
        raise ValueError(f"not a dialable peer multiaddr (need /ip4/../tcp/../p2p/<id>): {text!r}: {e}") from e


def _cause_chain(e: BaseException) -> str:
    """'outer <- cause <- root cause': libp2p wraps a MAC failure three levels deep."""
    parts = []
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}({cur})" if str(cur) else type(cur).__name__)
        cur = cur.__cause__ or cur.__context__
    return " <- ".join(parts)


_MULTISTREAM_PREFIX = b"/multistream/"


class _NotMultistream(Exception):
    """The first bytes of a stream cannot be a multistream-select header."""


class _CountingReader:
    """The stream as multistream-select reads it, counting the bytes that arrive and
    checking the first ones: a header is one varint byte then "/multistream/<version>\n",
    so anything else is garbage at once, whatever length it claims."""

    def __init__(self, stream: INetStream) -> None:
        self._stream = stream
        self.received = 0
        self._head = b""

    async def read(self, n: int | None = None) -> bytes:
        data = await self._stream.read(n)
        self.received += len(data)
        if len(self._head) <= len(_MULTISTREAM_PREFIX):
            self._head += data[:len(_MULTISTREAM_PREFIX) + 1 - len(self._head)]
            body = self._head[1:]
            if (self._head and self._head[0] >= 0x80) or not _MULTISTREAM_PREFIX.startswith(body[:len(_MULTISTREAM_PREFIX)]):
                raise _NotMultistream(f"stream opens with {self._head[:8].hex()}, not a multistream header")
        return data

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)

    async def close(self) -> None:
        await self._stream.close()


def _garbage_in_negotiation(e: BaseException) -> str | None:
    """What made a failed inbound negotiation garbage, or None if it was no offence."""
    chain: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for err in chain:
        if isinstance(err, _NotMultistream):
            return str(err)
        if isinstance(err, UnicodeDecodeError):
            return "non-text bytes instead of multistream-select"
        if isinstance(err, ParseError):
            return f"malformed multistream message ({err})"
        text = str(err)
        if text.startswith("multiselect protocol ID mismatch") and "/multistream/" not in text:
            return "no multistream header"  # another multistream version would be a dialect
    return None


async def _reset_quietly(stream: INetStream) -> None:
    with trio.CancelScope(shield=True):
        try:
            await stream.reset()
        except Exception:
            pass


def connection_direction(conn: INetConn) -> str:
    """'outbound' if we dialled the connection, else 'inbound'."""
    muxed = conn.muxed_conn
    return "outbound" if getattr(muxed, "is_initiator", False) else "inbound"


def negotiated_protocols(conn: INetConn) -> tuple[str | None, str | None]:
    """(security protocol, muxer protocol) as negotiated by multistream-select.

    py-libp2p annotates the muxed connection with both (muxer_multistream.py).
    """
    muxed = conn.muxed_conn
    return getattr(muxed, "negotiated_security_protocol", None), getattr(muxed, "negotiated_muxer_protocol", None)


@dataclass
class _StaticPeer:
    info: PeerInfo
    text: str
    failures: int = 0
    banned: bool = False  # the peer manager banned it: not redialled until the ban ends
    lost: trio.Event = field(default_factory=trio.Event)  # set by notify_disconnected


class P2PHost:
    """Owns the libp2p host, the dial policy and the static-peer keeper."""

    def __init__(self, key_pair: KeyPair, config: HostConfig) -> None:
        self.key_pair = key_pair
        self.config = config
        self.peer_id: ID = peer_id_of(key_pair)
        self.libp2p: IHost = build_libp2p_host(key_pair, config)
        self._static = [_StaticPeer(parse_peer_multiaddr(s), s) for s in config.static_peers]
        self.dial_failures = 0  # handshake/connect attempts that failed (metrics, tests)
        self.last_dial_errors: list[str] = []  # of the most recent dial() call
        # Told (peer, what) when a peer opens a stream and sends garbage instead of
        # multistream-select (the peer manager scores it); see _handle_new_stream.
        self.on_stream_garbage: Callable[[ID, str], None] | None = None
        self.libp2p.get_network().set_stream_handler(self._handle_new_stream)

    async def _handle_new_stream(self, net_stream: INetStream) -> None:
        """Every stream a peer opens: multistream-select, then the protocol's handler.

        Does what py-libp2p's BasicHost._swarm_stream_handler does on TCP (negotiate within
        the inbound negotiation timeout, reset on failure), and in addition tells
        on_stream_garbage about a stream that does not even speak multistream-select:
        bytes that are no length-delimited message, not text, or a first message that is
        no multistream header. A reset, a timeout or a protocol we lack (`na`) is no offence."""
        host = self.libp2p
        peer_id = net_stream.muxed_conn.peer_id
        timeout = self.libp2p.get_network().connection_config.inbound_stream_protocol_negotiation_timeout  # type: ignore[attr-defined]
        counted = _CountingReader(net_stream)
        try:
            protocol, handler = await host.multiselect.negotiate(  # type: ignore[attr-defined]
                MultiselectCommunicator(counted), int(timeout) or 10)
        except Exception as e:  # MultiselectError, or UnicodeDecodeError for non-text bytes
            garbage = _garbage_in_negotiation(e)
            if garbage is None and counted.received and "timeout" in str(e):
                # Bytes came, but no whole message in all that time: a claimed length
                # the peer never filled (random bytes mostly read as one).
                garbage = f"{counted.received} bytes that are no multistream message"
            log.debug("stream from %s not negotiated: %s%s", peer_id, _cause_chain(e), " (garbage)" if garbage else "")
            if garbage is not None and self.on_stream_garbage is not None:
                self.on_stream_garbage(peer_id, garbage)
            await _reset_quietly(net_stream)
            return
        if protocol is None or handler is None:
            await _reset_quietly(net_stream)
            return
        net_stream.set_protocol(protocol)
        await handler(net_stream)

    @classmethod
    def from_datadir(cls, datadir: Path, config: HostConfig) -> "P2PHost":
        return cls(load_or_create_node_key(datadir), config)

    # -- addresses -----------------------------------------------------------------

    def listen_multiaddrs(self) -> list[str]:
        """Full `/ip4/.../tcp/<port>/p2p/<peer id>` addresses, with the real bound port."""
        return [f"{a}/p2p/{self.peer_id}" for a in self.libp2p.get_transport_addrs()]

    def multiaddr(self) -> str:
        addrs = self.listen_multiaddrs()
        if not addrs:
            raise RuntimeError("host is not listening yet")
        return addrs[0]

    # -- lifecycle -----------------------------------------------------------------

    @asynccontextmanager
    async def run(self) -> AsyncIterator["P2PHost"]:
        listen = multiaddr.Multiaddr(f"/ip4/{self.config.listen_address}/tcp/{self.config.port}")
        if self.config.port:
            ensure_port_free(self.config.listen_address, self.config.port)
        async with self.libp2p.run([listen]):
            if not self.libp2p.get_transport_addrs():
                raise OSError(f"could not listen on {listen}")
            log.info("p2p listening on %s", self.multiaddr())
            async with trio.open_nursery() as nursery:
                for sp in self._static:
                    nursery.start_soon(self._keep_static_peer, sp)
                try:
                    yield self
                finally:
                    nursery.cancel_scope.cancel()

    # -- dialling ------------------------------------------------------------------

    async def dial(self, peer: PeerInfo | str, attempts: int | None = None) -> INetConn:
        """Connect (TCP + SecIO + mplex), retrying failed attempts; return the connection.

        Reuses an existing connection to the peer. Raises DialError after `attempts`.
        """
        info = parse_peer_multiaddr(peer) if isinstance(peer, str) else peer
        existing = self.connection_to(info.peer_id)
        if existing is not None:
            return existing
        attempts = attempts or self.config.dial_attempts
        swarm = self.libp2p.get_network()
        self.libp2p.get_peerstore().add_addrs(info.peer_id, info.addrs, 3600)
        errors: list[str] = []
        self.last_dial_errors = errors
        for attempt in range(1, attempts + 1):
            for addr in info.addrs:
                try:
                    conn = await swarm.dial_addr(addr, info.peer_id)
                except Exception as e:  # SwarmException wraps handshake and socket errors
                    self.dial_failures += 1
                    errors.append(f"{addr}: {_cause_chain(e)}")
                    log.debug("dial %s attempt %d/%d failed: %s", addr, attempt, attempts, errors[-1])
                    continue
                started = getattr(conn, "event_started", None)
                if started is not None:
                    await started.wait()
                return conn
            if attempt < attempts:
                await trio.sleep(self.config.dial_retry_delay * attempt)
        raise DialError(f"could not connect to {info.peer_id} after {attempts} attempts: {errors[-1] if errors else '?'}")

    def connection_to(self, peer_id: ID) -> INetConn | None:
        conns = self.libp2p.get_network().get_connections(peer_id)
        live = [c for c in conns if not c.is_closed]
        return live[0] if live else None

    def is_connected(self, peer_id: ID) -> bool:
        return self.connection_to(peer_id) is not None

    async def disconnect(self, peer_id: ID) -> None:
        await self.libp2p.disconnect(peer_id)

    # -- static peers -------------------------------------------------------------

    def notify_disconnected(self, peer_id: ID) -> None:
        """Called by the peer manager's notifee: wake the static-peer keepers."""
        for sp in self._static:
            if sp.info.peer_id == peer_id:
                sp.lost.set()

    def redial_delay(self, failures: int) -> float:
        """Exponential backoff with +-10% jitter, capped: 1, 2, 4, ... 60 s."""
        base = min(self.config.redial_initial_delay * math.pow(2, max(failures - 1, 0)), self.config.redial_max_delay)
        return base * random.uniform(0.9, 1.1)

    def ban_remaining(self, peer_id: ID) -> float:
        """Seconds before `peer_id` may be dialled again; the peer manager replaces this
        with its ban list (a banned static peer is not redialled every second)."""
        return 0.0

    async def _keep_static_peer(self, sp: _StaticPeer) -> None:
        while True:
            if not self.is_connected(sp.info.peer_id):
                banned_for = self.ban_remaining(sp.info.peer_id)
                if banned_for > 0:
                    if not sp.banned:
                        log.info("static peer %s is banned; no redial for %.0fs", sp.text, banned_for)
                    sp.banned = True
                    await trio.sleep(min(banned_for, self.config.redial_max_delay))  # re-checked: bans end
                    continue
                sp.banned = False
                try:
                    await self.dial(sp.info)
                    sp.failures = 0
                    log.info("connected to static peer %s", sp.text)
                except DialError as e:
                    sp.failures += 1
                    delay = self.redial_delay(sp.failures)
                    log.warning("static peer %s unreachable (%s); retry in %.1fs", sp.text, e, delay)
                    await trio.sleep(delay)
                    continue
            # Connected: wait until something disconnects, then re-check. A short
            # poll as well, in case a disconnect notification was missed.
            with trio.move_on_after(5):
                await sp.lost.wait()
            if sp.lost.is_set():
                sp.lost = trio.Event()
                # Give a peer that closed on us a moment, and jitter mutual redials.
                await trio.sleep(self.redial_delay(1) * 0.5)

    def static_peer_state(self) -> list[tuple[str, bool, int]]:
        return [(sp.text, self.is_connected(sp.info.peer_id), sp.failures) for sp in self._static]
