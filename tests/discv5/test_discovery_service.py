"""Discovery beside real libp2p hosts: 8 P2PServices (real Chains, LevelDB datadirs, TCP) with
their discv5 nodes on 127.0.0.1 UDP, knowing only one bootnode, all find and connect to each
other; a node of another chain is discovered but never dialled."""
from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trio

from beacon.p2p.discv5.enr import ENR, ENRForkID
from beacon.p2p.discv5.service import DiscoveryOptions, DiscoveryService, load_or_update_enr
from beacon.p2p.service import P2PService
from tests.p2p.service_harness import chain_of, open_chain


async def start_p2p(nursery: trio.Nursery, chain: Any, workdir: Path) -> P2PService:
    service = P2PService(chain, datadir=workdir, listen_address="127.0.0.1", port=0)
    await nursery.start(service.run)
    return service




async def start_discovery(nursery: trio.Nursery, service: Any, datadir: Path, fork: ENRForkID,
                          bootnodes: tuple[ENR, ...], target: int) -> DiscoveryService:
    disc = DiscoveryService(service.host, datadir, fork,
                            DiscoveryOptions(bootnodes=bootnodes, enr_address="127.0.0.1", udp_port=0,
                                             target_peers=target),
                            peer_count=lambda: len(service.peers()))
    await nursery.start(disc.run)
    return disc


@pytest.mark.trio
async def test_eight_nodes_one_bootnode_reach_target_peers(tmp_path: Path) -> None:
    pre = chain_of(0)
    n = 8
    async with AsyncExitStack() as stack:
        chains = []
        for i in range(n + 1):
            chains.append(open_chain(tmp_path / f"n{i}" / "db", pre))
            stack.callback(chains[-1].close)  # once the nursery below is done
        nursery = await stack.enter_async_context(trio.open_nursery())
        services, discs = [], []
        for i in range(n + 1):
            services.append(await start_p2p(nursery, chains[i], tmp_path / f"n{i}"))
        fork = ENRForkID.for_chain(bytes(pre.genesis.fork.current_version), services[0].chain.genesis_root)
        other_fork = ENRForkID.for_chain(bytes(pre.genesis.fork.current_version), b"\x42" * 32)
        boot = await start_discovery(nursery, services[0], tmp_path / "n0", fork, (), n - 1)
        for i in range(1, n):
            discs.append(await start_discovery(nursery, services[i], tmp_path / f"n{i}", fork, (boot.enr,), n - 1))
        # A ninth node of another chain (other genesis) that also knows the bootnode, wants no peers.
        stranger = await start_discovery(nursery, services[n], tmp_path / f"n{n}", other_fork, (boot.enr,), 0)
        ours = services[:n]
        with trio.fail_after(40):
            while not all(len(s.peers()) >= n - 1 for s in ours):
                await trio.sleep(0.1)
        stranger_id = str(services[n].host.peer_id)
        for s in ours:
            ids = {p["id"] for p in s.peers()}
            assert stranger_id not in ids
            assert len(ids) == n - 1
        # Every node saw the stranger's record (it is in the bootnode's table) and refused it.
        assert any(stranger.enr.node_id in d.dialer.other_fork for d in [boot, *discs])
        assert sum(d.dialer.connected for d in [boot, *discs]) >= n - 1  # connections made by the dialers
        nursery.cancel_scope.cancel()  # no Goodbyes: this test is about finding peers


def test_enr_is_persistent_and_seq_goes_up_on_change(tmp_path: Path) -> None:
    secret = bytes.fromhex("11" * 32)
    eth2 = ENRForkID(b"\x01\x02\x03\x04", b"\x00" * 4).encode()
    a = load_or_update_enr(tmp_path, secret, ip="127.0.0.1", tcp=9000, udp=9000, eth2=eth2)
    b = load_or_update_enr(tmp_path, secret, ip="127.0.0.1", tcp=9000, udp=9000, eth2=eth2)
    assert a.seq == b.seq == 1 and a.raw == b.raw
    c = load_or_update_enr(tmp_path, secret, ip="127.0.0.1", tcp=9001, udp=9000, eth2=eth2)
    assert c.seq == 2 and c.tcp == 9001
    (tmp_path / "enr").write_text("enr:garbage")
    assert load_or_update_enr(tmp_path, secret, ip="127.0.0.1", tcp=9001, udp=9000, eth2=eth2).seq == 1


def test_dialer_refuses_other_fork_versions_and_records_without_eth2() -> None:
    from beacon.p2p.discv5 import crypto
    from beacon.p2p.discv5.dialer import Dialer
    from beacon.p2p.discv5.protocol import Discv5

    genesis_root = b"\x33" * 32
    ours = ENRForkID.for_chain(b"\x00\x00\x00\x00", genesis_root)
    secret = crypto.new_secret()
    disc = Discv5(secret, ENR.create(secret, 1, ip="127.0.0.1", udp=9000, eth2=ours.encode()))
    dialer = Dialer(disc, host=None, fork_digest=ours.fork_digest, target_peers=16,  # type: ignore[arg-type]
                    peer_count=lambda: 0)

    def record(**kw: Any) -> ENR:
        return ENR.create(crypto.new_secret(), 1, ip="127.0.0.1", tcp=9000, udp=9000, **kw)

    other_version = record(eth2=ENRForkID.for_chain(b"\x00\x00\x00\x01", genesis_root).encode())
    other_chain = record(eth2=ENRForkID.for_chain(b"\x00\x00\x00\x00", b"\x44" * 32).encode())
    no_eth2 = record()
    no_tcp = ENR.create(crypto.new_secret(), 1, ip="127.0.0.1", udp=9000, eth2=ours.encode())
    for r in (other_version, other_chain, no_eth2, no_tcp):
        assert not dialer.wanted(r)
    assert dialer.other_fork == {other_version.node_id, other_chain.node_id, no_eth2.node_id}
    assert not dialer.wanted(disc.enr)  # ourselves


@pytest.mark.trio
async def test_default_udp_port_taken_moves_to_a_free_one(tmp_path: Path) -> None:
    import socket

    pre = chain_of(0)
    chain = open_chain(tmp_path / "db", pre)
    try:
        async with trio.open_nursery() as nursery:
            service = await start_p2p(nursery, chain, tmp_path)
            tcp = int(service.multiaddr().split("/tcp/")[1].split("/")[0])
            squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            squatter.bind(("127.0.0.1", tcp))  # someone else holds the UDP port of the same number
            try:
                fork = ENRForkID.for_chain(bytes(pre.genesis.fork.current_version), chain.genesis_root)
                disc = DiscoveryService(service.host, tmp_path, fork, DiscoveryOptions(enr_address="127.0.0.1"),
                                        peer_count=lambda: 0)
                record = await nursery.start(disc.run)
                assert record.tcp == tcp and record.udp not in (None, tcp)
                assert disc.discv5.port == record.udp
            finally:
                squatter.close()
            nursery.cancel_scope.cancel()
    finally:
        chain.close()
