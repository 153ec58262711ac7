"""The discv5 node over real UDP on 127.0.0.1: handshakes, PING, FINDNODE/NODES, lookups,
malformed and flooding input."""
from __future__ import annotations

import os

import pytest
import trio

from beacon.p2p.discv5 import crypto, messages as m
from beacon.p2p.discv5.enr import ENR
from beacon.p2p.discv5.protocol import Discv5, DiscoveryError, RateLimiter

pytestmark = pytest.mark.trio


def _free_udp_port() -> int:
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_node(bootnodes: list[ENR] = (), **kw) -> Discv5:  # type: ignore[assignment]
    secret = crypto.new_secret()
    port = _free_udp_port()
    record = ENR.create(secret, 1, ip="127.0.0.1", udp=port, tcp=port)
    return Discv5(secret, record, listen=("127.0.0.1", port), bootnodes=list(bootnodes), **kw)


async def test_ping_findnode_and_handshake_both_ways() -> None:
    a, b = make_node(), make_node()
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        pong = await a.ping(b.enr)  # no session yet: message, WHOAREYOU, handshake, PONG
        assert pong.enr_seq == 1 and (pong.ip, pong.port) == ("127.0.0.1", a.port)
        assert b.stats.handshakes == 1 and b.table.get(a.local_id) == a.enr
        assert a.table.get(b.local_id) == b.enr
        # The session now carries requests both ways without a new handshake.
        assert await b.find_node(a.enr, [0]) == [a.enr]
        assert (await a.ping(b.enr)).enr_seq == 1
        assert a.stats.handshakes + b.stats.handshakes == 1
        nursery.cancel_scope.cancel()


async def test_unanswered_request_times_out() -> None:
    a = make_node(request_timeout=0.3)
    silent = ENR.create(crypto.new_secret(), 1, ip="127.0.0.1", udp=_free_udp_port())
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        with pytest.raises(DiscoveryError, match="timed out"):
            await a.ping(silent)
        nursery.cancel_scope.cancel()


async def test_eight_nodes_find_each_other_through_one_bootnode() -> None:
    boot = make_node()
    nodes = [make_node([boot.enr], refresh_interval=0.5) for _ in range(7)]
    async with trio.open_nursery() as nursery:
        await nursery.start(boot.run)
        for n in nodes:
            await nursery.start(n.run)
        everyone = {x.local_id for x in [boot, *nodes]}
        with trio.fail_after(20):
            while not all({r.node_id for r in n.known_records()} >= everyone - {n.local_id} for n in nodes):
                await trio.sleep(0.1)
        nursery.cancel_scope.cancel()


async def test_garbage_and_floods_are_dropped_and_the_node_keeps_answering() -> None:
    a = make_node(limiter=RateLimiter(rate=50, burst=100))
    b = make_node()
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            await sock.bind(("127.0.0.1", 0))
            junk = [b"", b"x" * 10, os.urandom(100), os.urandom(1300), bytes(16) + b"discv5" + os.urandom(60)]
            for i in range(1000):
                await sock.sendto(junk[i % len(junk)], ("127.0.0.1", a.port))
            with trio.fail_after(5):
                while a.stats.received < 900:
                    await trio.sleep(0.05)
        assert a.stats.rate_limited >= 800  # burst 100, then 50 a second
        assert a.stats.bad_packets >= 90
        assert a.stats.whoareyou_sent == 0
        # The flood came from one source; another node is still answered.
        assert (await b.ping(a.enr)).enr_seq == 1
        nursery.cancel_scope.cancel()


async def test_forged_whoareyou_and_unsolicited_responses_are_ignored() -> None:
    from beacon.p2p.discv5.packet import FLAG_WHOAREYOU, Header, encode_packet, whoareyou_authdata

    a, b = make_node(), make_node()
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        await a.ping(b.enr)
        bad_before = a.stats.bad_packets
        forged = encode_packet(a.local_id, Header(FLAG_WHOAREYOU, os.urandom(12), whoareyou_authdata(os.urandom(16), 0)),
                               None, b"")
        await b._send(forged, ("127.0.0.1", a.port))
        await b._send_message(a.local_id, ("127.0.0.1", a.port), m.Pong(b"\x01", 1, "127.0.0.1", 1))
        with trio.fail_after(2):
            while a.stats.bad_packets < bad_before + 2:
                await trio.sleep(0.02)
        assert a.stats.handshakes == 0  # a sent no handshake in answer to the forged challenge
        nursery.cancel_scope.cancel()


async def test_talkreq_gets_an_empty_talkresp() -> None:
    a, b = make_node(), make_node()
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        await nursery.start(b.run)
        (resp,) = await a.request(b.enr, m.TalkReq(b"\x07", b"eth2-test", b"hello"))
        assert resp == m.TalkResp(b"\x07", b"")
        nursery.cancel_scope.cancel()


async def test_a_node_back_on_a_new_port_is_known_by_its_new_record() -> None:
    a = make_node()
    b = make_node([a.enr])
    async with trio.open_nursery() as nursery:
        await nursery.start(a.run)
        async with trio.open_nursery() as b_nursery:
            await b_nursery.start(b.run)
            with trio.fail_after(5):
                while a.table.get(b.local_id) is None:
                    await trio.sleep(0.02)
            b_nursery.cancel_scope.cancel()  # B goes away; its old port is closed
        # B restarts on another port with seq 2 (as service.load_or_update_enr would sign it).
        port = _free_udp_port()
        b2 = Discv5(b.secret, ENR.create(b.secret, 2, ip="127.0.0.1", udp=port, tcp=port),
                    listen=("127.0.0.1", port), bootnodes=[a.enr])
        await nursery.start(b2.run)
        with trio.fail_after(5):
            while (a.table.get(b.local_id) or b.enr).seq != 2:
                await trio.sleep(0.02)
        assert a.table.get(b.local_id).udp == port
        assert {r.node_id: r.seq for r in a.known_records()}[b.local_id] == 2
        assert (await a.ping(a.table.get(b.local_id))).enr_seq == 2
        nursery.cancel_scope.cancel()
