"""Gossipsub over real TCP: parameters, propagation, validation stops forwarding,
invalid senders are scored and dropped."""
from __future__ import annotations

from pathlib import Path

import pytest
import trio

from beacon.p2p.constants import GOSSIP_MAX_SIZE, MESHSUB_ID, TOPIC_BEACON_ATTESTATION, TOPIC_BEACON_BLOCK
from beacon.p2p.gossip import PUBLISH_ENVELOPE_RESERVE, Gossip, GossipConfig
from beacon.p2p.host import HostConfig, P2PHost
from beacon.p2p.interface import GossipVerdict
from beacon.p2p import messages as m
from libp2p.pubsub.pubsub import get_peer_and_seqno_msg_id

from .harness import Node, running_node, wait_until
from .memchain import MemoryChain


def run(fn, *args, timeout: float = 40.0):  # type: ignore[no-untyped-def]
    async def bounded():  # type: ignore[no-untyped-def]
        with trio.fail_after(timeout):
            return await fn(*args)

    return trio.run(bounded)


class AcceptAll(MemoryChain):
    """A chain whose gossip validation lets everything through (to see what arrives)."""

    async def validate_gossip(self, topic: str, data: bytes) -> GossipVerdict:
        self.gossip_seen.append((topic, data))
        return GossipVerdict.ACCEPT


async def connect(a: Node, b: Node) -> None:
    await a.host.dial(b.addr)
    assert await wait_until(lambda: b.host.peer_id in a.peers.peers and a.peers.peers[b.host.peer_id].hello is not None)
    assert a.gossip is not None and b.gossip is not None
    # Meshes form on the 1 s heartbeat once subscriptions are exchanged.
    assert await wait_until(lambda: b.host.peer_id in a.gossip.mesh_peers(TOPIC_BEACON_BLOCK), timeout=5)
    assert await wait_until(lambda: a.host.peer_id in b.gossip.mesh_peers(TOPIC_BEACON_BLOCK), timeout=5)


def test_router_has_the_interop_parameters(tmp_path: Path) -> None:
    host = P2PHost.from_datadir(tmp_path, HostConfig(port=0))
    g = Gossip(host, MemoryChain().validate_gossip)
    r = g.router
    assert r.protocols == [MESHSUB_ID]
    assert (r.degree, r.degree_low, r.degree_high, r.d_lazy) == (6, 4, 12, 6)
    assert r.time_to_live == 60 and r.heartbeat_interval == 1
    assert (r.mcache.window_size, r.mcache.history_size) == (3, 5)
    assert not (r.adaptive_gossip_enabled or r.spam_protection_enabled or r.eclipse_protection_enabled or r.do_px)
    assert g.pubsub._msg_id_constructor is get_peer_and_seqno_msg_id
    assert set(g.pubsub.topic_validators) == set(GossipConfig().topics)
    # IHAVE goes to exactly D_lazy peers, not the library's max(6, 25%).
    assert r._get_adaptive_gossip_peers_count(TOPIC_BEACON_BLOCK, 100) == 6
    assert r._get_adaptive_gossip_peers_count(TOPIC_BEACON_BLOCK, 2) == 2


def test_message_propagates_a_to_b_over_meshsub_1_0(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "a", gossip=True) as a, running_node(tmp_path / "b", gossip=True) as b:
            await connect(a, b)
            assert a.gossip is not None and b.gossip is not None
            assert b.gossip.router.peer_protocol[a.host.peer_id] == MESHSUB_ID
            await a.gossip.publish(TOPIC_BEACON_BLOCK, b"block bytes")
            await a.gossip.publish(TOPIC_BEACON_ATTESTATION, b"attestation bytes")
            assert await wait_until(lambda: len(b.received) == 2, timeout=5)
            assert sorted(b.received) == [(TOPIC_BEACON_ATTESTATION, b"attestation bytes"), (TOPIC_BEACON_BLOCK, b"block bytes")]
            assert (TOPIC_BEACON_BLOCK, b"block bytes") in b.chain.gossip_seen  # B validated it

    run(scenario)


def test_invalid_message_is_not_forwarded_across_a_b_c(tmp_path: Path) -> None:
    """A and C accept anything; B (in the middle) rejects payloads starting with BAD.
    A valid message crosses B to C; an invalid one stops at B and counts against A."""

    async def scenario() -> None:
        async with running_node(tmp_path / "a", chain=AcceptAll.with_blocks([0]), gossip=True) as a, running_node(
            tmp_path / "b", gossip=True
        ) as b, running_node(tmp_path / "c", chain=AcceptAll.with_blocks([0]), gossip=True) as c:
            await connect(a, b)
            await connect(b, c)
            assert not a.host.is_connected(c.host.peer_id)
            assert a.gossip is not None and b.gossip is not None

            await a.gossip.publish(TOPIC_BEACON_BLOCK, b"good block")
            assert await wait_until(lambda: (TOPIC_BEACON_BLOCK, b"good block") in c.received, timeout=5)

            await a.gossip.publish(TOPIC_BEACON_BLOCK, b"BAD block")
            assert await wait_until(lambda: b.gossip.rejected.get(TOPIC_BEACON_BLOCK) == 1, timeout=5)
            # Several heartbeats (1 s) pass: neither the mesh push nor IHAVE gossip carries it on.
            await trio.sleep(3.5)
            assert (TOPIC_BEACON_BLOCK, b"BAD block") not in c.received
            assert all(data != b"BAD block" for _, data in c.chain.gossip_seen)
            assert (TOPIC_BEACON_BLOCK, b"BAD block") not in b.received
            assert b.peers.peers[a.host.peer_id].score < 0
            assert any("invalid gossip" in o for o in b.peers.peers[a.host.peer_id].offences)

    run(scenario)


def test_repeated_invalid_gossip_gets_the_sender_dropped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "a", chain=AcceptAll.with_blocks([0]), gossip=True) as a, running_node(
            tmp_path / "b", gossip=True
        ) as b:
            await connect(a, b)
            assert a.gossip is not None
            for i in range(5):
                await a.gossip.publish(TOPIC_BEACON_BLOCK, b"BAD %d" % i)
            assert await wait_until(lambda: ("received", b.host.peer_id, m.GoodbyeReason.FAULT_OR_ERROR) in a.peers.goodbyes, timeout=10)
            assert await wait_until(lambda: not a.host.is_connected(b.host.peer_id), timeout=5)
            assert a.host.peer_id in b.peers.banned
            # A banned peer that comes back is sent away again (once both sides have
            # finished with the first connection).
            assert await wait_until(lambda: a.host.peer_id not in b.peers.peers and b.host.peer_id not in a.peers.peers)
            await a.host.dial(b.addr)
            assert await wait_until(lambda: len([g for g in b.peers.goodbyes if g[1] == a.host.peer_id]) == 2, timeout=5)
            assert b.peers.goodbyes[-1] == ("sent", a.host.peer_id, m.GoodbyeReason.FAULT_OR_ERROR)

    run(scenario)


def test_gossip_size_limit(tmp_path: Path) -> None:
    async def scenario() -> None:
        big = b"\x01" * (GOSSIP_MAX_SIZE + 1)
        async with running_node(tmp_path / "a", chain=AcceptAll.with_blocks([0]), gossip=True) as a, running_node(
            tmp_path / "b", gossip=True
        ) as b:
            assert a.gossip is not None and b.gossip is not None
            with pytest.raises(ValueError, match="exceeds"):
                await a.gossip.publish(TOPIC_BEACON_BLOCK, big)
            await connect(a, b)
            # The largest payload we publish arrives.
            largest = b"\x02" * (GOSSIP_MAX_SIZE - PUBLISH_ENVELOPE_RESERVE)
            await a.gossip.publish(TOPIC_BEACON_BLOCK, largest)
            assert await wait_until(lambda: len(b.received) == 1, timeout=10)
            assert b.received[0] == (TOPIC_BEACON_BLOCK, largest)

            # Make A a non-conforming sender: lift its own limits (its validator and the
            # library's 1 MiB outbound frame cap) so it emits an oversized message. B must
            # reject it on size, before its chain sees it.
            a.gossip.config = GossipConfig(max_size=4 * GOSSIP_MAX_SIZE)
            a.gossip.pubsub.peer_queues[b.host.peer_id].max_message_size = 4 * GOSSIP_MAX_SIZE
            await a.gossip.publish(TOPIC_BEACON_BLOCK, big)
            assert await wait_until(lambda: b.gossip.rejected.get(TOPIC_BEACON_BLOCK) == 1, timeout=10)
            assert all(len(data) <= GOSSIP_MAX_SIZE for _, data in b.chain.gossip_seen)
            assert len(b.received) == 1
            assert b.peers.peers[a.host.peer_id].score < 0

    run(scenario)
