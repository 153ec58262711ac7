"""The interop host over real TCP on 127.0.0.1: negotiation, addresses, dial retry,
static-peer redial with backoff."""
from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import multiaddr
import pytest
import trio
from libp2p.peer.peerinfo import PeerInfo

from beacon.p2p.host import DialError, HostConfig, P2PHost, connection_direction, negotiated_protocols

from .harness import running_node, wait_until
from .proxy import FlakyRelay

MULTIADDR_RE = re.compile(r"^/ip4/127\.0\.0\.1/tcp/(\d+)/p2p/(16Uiu2\w+)$")


def run(fn, *args, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    async def bounded():  # type: ignore[no-untyped-def]
        with trio.fail_after(timeout):
            return await fn(*args)

    return trio.run(bounded)


def port_of(addr: str) -> int:
    return int(addr.split("/")[4])


def test_two_hosts_negotiate_secio_and_mplex(tmp_path: Path) -> None:
    async def scenario() -> None:
        a = P2PHost.from_datadir(tmp_path / "a", HostConfig(listen_address="127.0.0.1", port=0))
        b = P2PHost.from_datadir(tmp_path / "b", HostConfig(listen_address="127.0.0.1", port=0))
        async with a.run(), b.run():
            match = MULTIADDR_RE.match(b.multiaddr())
            assert match, b.multiaddr()
            assert int(match.group(1)) > 0 and match.group(2) == str(b.peer_id)

            conn = await a.dial(b.multiaddr())
            assert negotiated_protocols(conn) == ("/secio/1.0.0", "/mplex/6.7.0")
            assert connection_direction(conn) == "outbound"
            assert conn.muxed_conn.peer_id == b.peer_id

            assert await wait_until(lambda: b.is_connected(a.peer_id))
            back = b.connection_to(a.peer_id)
            assert back is not None
            assert negotiated_protocols(back) == ("/secio/1.0.0", "/mplex/6.7.0")
            assert connection_direction(back) == "inbound"

            # identify (built in) ran and told A what B speaks
            store = a.libp2p.get_peerstore()
            assert await wait_until(lambda: "/ipfs/id/1.0.0" in store.get_protocols(b.peer_id))
            assert a.dial_failures == 0

    run(scenario)


def test_only_interop_security_and_muxer_are_offered(tmp_path: Path) -> None:
    host = P2PHost.from_datadir(tmp_path, HostConfig(listen_address="127.0.0.1", port=0))
    upgrader = host.libp2p.get_network().upgrader
    assert list(upgrader.security_multistream.transports) == ["/secio/1.0.0"]
    assert list(upgrader.muxer_multistream.transports) == ["/mplex/6.7.0"]


def test_same_datadir_same_peer_id(tmp_path: Path) -> None:
    first = P2PHost.from_datadir(tmp_path, HostConfig(port=0))
    second = P2PHost.from_datadir(tmp_path, HostConfig(port=0))
    assert first.peer_id == second.peer_id


def test_dial_retries_a_failed_secio_handshake(tmp_path: Path) -> None:
    """The relay flips one bit of the responder's final SecIO nonce message on the first
    connection: the dialler's MAC check fails, as with a mismatched ECDH secret."""

    async def scenario() -> None:
        a = P2PHost.from_datadir(tmp_path / "a", HostConfig(listen_address="127.0.0.1", port=0, dial_retry_delay=0.05))
        b = P2PHost.from_datadir(tmp_path / "b", HostConfig(listen_address="127.0.0.1", port=0))
        async with a.run(), b.run(), trio.open_nursery() as nursery:
            relay = FlakyRelay(port_of(b.multiaddr()), spoil_first=1, corrupt_offset=300)
            relay_port = await nursery.start(relay.serve)
            info = PeerInfo(b.peer_id, [multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{relay_port}")])

            conn = await a.dial(info)
            assert negotiated_protocols(conn) == ("/secio/1.0.0", "/mplex/6.7.0")
            assert relay.connections == 2
            assert a.dial_failures == 1
            assert "InvalidMACException" in a.last_dial_errors[0]
            nursery.cancel_scope.cancel()

    run(scenario)


def test_dial_gives_up_after_the_configured_attempts(tmp_path: Path) -> None:
    async def scenario() -> None:
        a = P2PHost.from_datadir(tmp_path / "a", HostConfig(listen_address="127.0.0.1", port=0, dial_attempts=3, dial_retry_delay=0.01))
        b = P2PHost.from_datadir(tmp_path / "b", HostConfig(port=0))
        async with a.run(), trio.open_nursery() as nursery:
            relay = FlakyRelay(target_port=1, spoil_first=10**6, corrupt_offset=None)  # hangs up at once
            relay_port = await nursery.start(relay.serve)
            with pytest.raises(DialError, match="after 3 attempts"):
                await a.dial(PeerInfo(b.peer_id, [multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{relay_port}")]))
            assert relay.connections == 3
            assert a.dial_failures == 3
            nursery.cancel_scope.cancel()

    run(scenario)


def test_redial_backoff_is_exponential_and_capped() -> None:
    host = P2PHost.__new__(P2PHost)
    host.config = HostConfig(redial_initial_delay=1.0, redial_max_delay=60.0)
    delays = [host.redial_delay(n) for n in range(1, 10)]
    for n, d in enumerate(delays, start=1):
        expected = min(2 ** (n - 1), 60)
        assert expected * 0.9 <= d <= expected * 1.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_static_peer_is_dialled_when_it_appears_and_redialled_when_lost(tmp_path: Path) -> None:
    async def scenario() -> None:
        # B's identity and port are fixed up front; B itself starts later.
        b_port = _free_port()
        b_id = P2PHost.from_datadir(tmp_path / "b", HostConfig(port=0)).peer_id
        b_addr = f"/ip4/127.0.0.1/tcp/{b_port}/p2p/{b_id}"
        async with running_node(
            tmp_path / "a", static_peers=[b_addr], redial_initial_delay=0.1, redial_max_delay=0.4, dial_attempts=1
        ) as a:
            # B is down: A keeps failing and backing off.
            assert await wait_until(lambda: a.host.static_peer_state()[0][2] >= 3, timeout=10)
            assert not a.host.is_connected(b_id)

            async with running_node(tmp_path / "b", port=b_port) as b:
                assert b.host.peer_id == b_id
                assert await wait_until(lambda: a.host.is_connected(b_id), timeout=10)
                # Connected and its failure count reset (bookkeeping may trail the connection by a tick).
                assert await wait_until(lambda: a.host.static_peer_state()[0][1:] == (True, 0), timeout=5)
                # The static dial is an outbound connection: A says Hello first.
                assert await wait_until(lambda: len(a.peers.active_peers()) == 1 and len(b.peers.active_peers()) == 1)
                assert b.peers.peers[a.host.peer_id].direction == "inbound"

                # B drops A: A notices and dials again.
                await b.host.disconnect(a.host.peer_id)
                assert await wait_until(lambda: not a.host.is_connected(b_id), timeout=5)
                assert await wait_until(lambda: a.host.is_connected(b_id), timeout=10)
                assert await wait_until(lambda: len(b.peers.active_peers()) == 1)

    run(scenario, timeout=60)


def test_a_banned_static_peer_is_not_redialled_until_its_ban_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "b") as b:
            async with running_node(tmp_path / "a", static_peers=[b.addr], redial_initial_delay=0.1,
                                    redial_max_delay=0.4, dial_attempts=1) as a:
                b_id = b.host.peer_id
                assert await wait_until(lambda: len(a.peers.active_peers()) == 1, timeout=10)
                a.peers.penalize(b_id, 100, "test: a real offence")  # Goodbye(3), banned
                assert await wait_until(lambda: not a.host.is_connected(b_id), timeout=5)
                assert a.host.ban_remaining(b_id) > 500
                await trio.sleep(2.0)  # several redial periods: none dials a banned peer
                assert not a.host.is_connected(b_id)
                a.peers.banned[b_id] = time.monotonic() + 0.5  # the ban ends: dialled again
                assert await wait_until(lambda: a.host.is_connected(b_id), timeout=10)

    run(scenario, timeout=60)


def test_second_node_on_the_same_port_is_an_error(tmp_path: Path) -> None:
    """py-libp2p listens with SO_REUSEPORT; without our check a second node would share
    the port and receive half of the first node's connections."""

    async def scenario() -> None:
        a = P2PHost.from_datadir(tmp_path / "a", HostConfig(listen_address="127.0.0.1", port=0))
        async with a.run():
            taken = port_of(a.multiaddr())
            b = P2PHost.from_datadir(tmp_path / "b", HostConfig(listen_address="127.0.0.1", port=taken))
            with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
                async with b.run():
                    pass
            # A still accepts connections on its port.
            c = P2PHost.from_datadir(tmp_path / "c", HostConfig(listen_address="127.0.0.1", port=0))
            async with c.run():
                conn = await c.dial(a.multiaddr())
                assert conn.muxed_conn.peer_id == a.peer_id

    run(scenario)


def test_libp2p_logs_reach_the_node_logging(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    assert logging.getLogger("libp2p").propagate is True
    with caplog.at_level(logging.WARNING):
        logging.getLogger("libp2p.transport.tcp.tcp").warning("probe message")
        # The known SecIO/identify noise is filtered (docs/interop.md #7).
        logging.getLogger("libp2p.identity.identify.identify").error("Error getting remote address: x")
    messages = [r.getMessage() for r in caplog.records]
    assert "probe message" in messages
    assert not any(m.startswith("Error getting remote address") for m in messages)
