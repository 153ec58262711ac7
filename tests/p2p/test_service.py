"""P2PService over real Chains (real signed blocks, LevelDB datadirs) and real TCP on
127.0.0.1: handshake, range sync, gossip across a line of three, parent lookup, bad
peers. In-process (one trio run) until the node command exists; the probe test runs
`pybeacon probe` as a real OS process."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Sequence

import pytest
import trio

from beacon.chain import Chain, Status
from beacon.config import load_config
from beacon.p2p import messages as m
from beacon.p2p import reqresp
from beacon.p2p.constants import BEACON_BLOCKS_ID, TOPIC_BEACON_BLOCK
from beacon.p2p.interface import BlockAtSlot
from beacon.p2p.peers import HandshakeState
from beacon.p2p.service import P2PConfig, P2PService

from .harness import running_node, wait_until
from .memchain import MemoryChain
from .service_harness import chain_of, open_chain, propose_every_slot, running_service

pytestmark = pytest.mark.slow


def run(fn, *args, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    async def bounded():  # type: ignore[no-untyped-def]
        with trio.fail_after(timeout):
            return await fn(*args)

    return trio.run(bounded)


def peer_entry(service: P2PService, other: P2PService) -> dict | None:
    pid = str(other.host.peer_id)
    return next((p for p in service.peers() if p["id"] == pid), None)


def test_handshake_and_peer_list(tmp_path: Path) -> None:
    pre = chain_of(128)
    a_chain = open_chain(tmp_path / "a-db", pre, 40)  # far enough to have finalized
    b_chain = open_chain(tmp_path / "b-db", pre, 40)

    async def main() -> None:
        async with running_service(tmp_path / "a", a_chain) as a:
            async with running_service(tmp_path / "b", b_chain, static_peers=[a.multiaddr()]) as b:
                assert await wait_until(lambda: (peer_entry(a, b) or {}).get("state") == "active"
                                        and (peer_entry(b, a) or {}).get("state") == "active")
                ea, eb = peer_entry(b, a), peer_entry(a, b)
                assert ea is not None and eb is not None
                assert ea["direction"] == "outbound" and eb["direction"] == "inbound"
                assert ea["head_slot"] == 40 and ea["address"].startswith("/ip4/127.0.0.1/tcp/")
                # The Hello B received is A's chain status, field by field.
                hello = b.peer_manager.peers[a.host.peer_id].hello
                assert hello is not None
                assert hello.head_root == a_chain.head.root and hello.head_slot == 40
                assert hello.fork_version == bytes(a_chain.head_state().fork.current_version)
                assert hello.finalized_epoch == int(a_chain.finalized_checkpoint.epoch) > 0
                assert hello.finalized_root == bytes(a_chain.finalized_checkpoint.root)
                assert not b.is_syncing()
                assert b.multiaddr().endswith(str(b.host.peer_id))
            # B's shutdown said Goodbye(1) to A.
            assert ("received", b.host.peer_id, 1) in a.peer_manager.goodbyes

    run(main)
    a_chain.close()
    b_chain.close()


@pytest.mark.parametrize("already", [0, 40])
def test_range_sync_of_a_prebuilt_chain(tmp_path: Path, already: int) -> None:
    """A has 130 real blocks; B (fresh from genesis, or 40 blocks in) catches up by range."""
    pre = chain_of(130)
    a_chain = open_chain(tmp_path / "a-db", pre, 130)
    b_chain = open_chain(tmp_path / "b-db", pre, already)
    syncing_seen: list[bool] = []

    async def main() -> None:
        async with running_service(tmp_path / "a", a_chain) as a:
            async with running_service(tmp_path / "b", b_chain, static_peers=[a.multiaddr()]) as b:

                def done() -> bool:
                    syncing_seen.append(b.is_syncing())
                    return b_chain.head.root == a_chain.head.root

                assert await wait_until(done, timeout=60, interval=0.01)
                assert await wait_until(lambda: not b.is_syncing(), timeout=5)
                assert b.sync.blocks_imported == 130 - already
                assert b.sync.batches >= 2  # 64 blocks per request
                # A learnt nothing from B and was never behind.
                assert a.sync.blocks_imported == 0

    run(main)
    assert True in syncing_seen
    assert b_chain.head.slot == 130
    assert b_chain.finalized_checkpoint.epoch == a_chain.finalized_checkpoint.epoch
    a_chain.close()
    b_chain.close()


def test_gossip_block_crosses_a_line_of_three(tmp_path: Path) -> None:
    """A - B - C: a block A publishes is validated and imported by B, forwarded, and
    imported by C, which has no connection to A."""
    pre = chain_of(128)
    blocks = pre.decoded()
    chains = [open_chain(tmp_path / f"{n}-db", pre, 10) for n in "abc"]

    async def main() -> None:
        async with running_service(tmp_path / "a", chains[0]) as a:
            async with running_service(tmp_path / "b", chains[1], static_peers=[a.multiaddr()]) as b:
                async with running_service(tmp_path / "c", chains[2], static_peers=[b.multiaddr()]) as c:
                    assert await wait_until(lambda: b.host.peer_id in a.gossip.mesh_peers(TOPIC_BEACON_BLOCK)
                                            and c.host.peer_id in b.gossip.mesh_peers(TOPIC_BEACON_BLOCK), timeout=10)
                    assert not c.host.is_connected(a.host.peer_id)
                    for block in blocks[10:13]:
                        await a.publish_block(block)
                        root = block.signing_root()
                        assert await wait_until(lambda: chains[2].head.root == root, timeout=10)
                    assert chains[1].head.root == blocks[12].signing_root()
                    assert c.sync.blocks_imported == 0  # by gossip, not by sync
                    # Delivery to the subscription follows validation (which imports): wait for it.
                    assert await wait_until(lambda: c.gossip.delivered.get(TOPIC_BEACON_BLOCK) == 3, timeout=5)

    run(main)
    for ch in chains:
        ch.close()


def test_orphan_gossip_block_triggers_parent_lookup(tmp_path: Path) -> None:
    pre = chain_of(128)
    blocks = pre.decoded()
    a_chain = open_chain(tmp_path / "a-db", pre, 10)
    b_chain = open_chain(tmp_path / "b-db", pre, 10)

    async def main() -> None:
        # No Hello may tell B of block 11 before the orphan arrives: no re-status, and both
        # Hellos exchanged before A imports it (else B range-syncs instead, legitimately).
        quiet = P2PConfig(restatus_interval=3600)
        async with running_service(tmp_path / "a", a_chain, config=quiet) as a:
            async with running_service(tmp_path / "b", b_chain, static_peers=[a.multiaddr()], config=quiet) as b:
                assert await wait_until(lambda: a.host.peer_id in b.gossip.mesh_peers(TOPIC_BEACON_BLOCK), timeout=10)
                assert await wait_until(lambda: all(
                    (p := s.peer_manager.peers.get(other)) is not None and p.hello is not None
                    for s, other in ((a, b.host.peer_id), (b, a.host.peer_id))), timeout=10)
                # A learns block 11 without telling anyone, then gossips 12: a near orphan.
                assert a_chain.import_block(blocks[10]).status is Status.IMPORTED
                await a.publish_block(blocks[11])
                assert await wait_until(lambda: b_chain.head.root == blocks[11].signing_root(), timeout=15)
                assert b.sync.lookups >= 1 and b.sync.batches == 0
                assert b.view.missing_roots() == []

    run(main)
    a_chain.close()
    b_chain.close()


def test_far_orphan_gossip_block_starts_a_range_sync_from_its_sender(tmp_path: Path) -> None:
    """An orphan more than a few slots above our head: its sender has the ancestors, so
    range sync from it (a peer naming blocks by hash_tree_root could not serve a lookup)."""
    pre = chain_of(128)
    blocks = pre.decoded()
    a_chain = open_chain(tmp_path / "a-db", pre, 10)
    b_chain = open_chain(tmp_path / "b-db", pre, 10)

    async def main() -> None:
        async with running_service(tmp_path / "a", a_chain) as a:
            async with running_service(tmp_path / "b", b_chain, static_peers=[a.multiaddr()]) as b:
                assert await wait_until(lambda: a.host.peer_id in b.gossip.mesh_peers(TOPIC_BEACON_BLOCK), timeout=10)
                for block in blocks[10:20]:
                    assert a_chain.import_block(block).status is Status.IMPORTED
                await a.publish_block(blocks[20])
                assert await wait_until(lambda: b_chain.head.root == blocks[20].signing_root(), timeout=15)
                assert b.sync.batches >= 1
                assert b.view.missing_roots() == []

    run(main)
    a_chain.close()
    b_chain.close()


class CorruptServer(MemoryChain):
    """A peer that advertises a real chain and serves it by range with one block's
    signature spoiled (a real ChainView implementation, just a dishonest one)."""

    def __init__(self, blocks: Sequence[bytes], head_root: bytes, bad_index: int) -> None:
        super().__init__()
        self.real = list(blocks)
        self.head_root = head_root
        self.bad_index = bad_index

    def head(self) -> tuple[bytes, int]:
        return self.head_root, len(self.real)

    async def blocks_by_range(self, head_block_root: bytes, start_slot: int, count: int, step: int):  # type: ignore[no-untyped-def]
        out = []
        for slot in range(start_slot, start_slot + count * step, step):
            if 1 <= slot <= len(self.real):
                raw = self.real[slot - 1]
                if slot - 1 == self.bad_index:
                    raw = raw[:-1] + bytes([raw[-1] ^ 1])  # spoils the last attestation's signature
                out.append(BlockAtSlot(slot, raw))
        return out


def test_peer_serving_an_invalid_block_is_dropped(tmp_path: Path) -> None:
    pre = chain_of(128)
    b_chain = open_chain(tmp_path / "b-db", pre, 0)
    liar = CorruptServer(pre.blocks[:80], pre.decoded()[79].signing_root(), bad_index=69)

    async def main() -> None:
        async with running_node(tmp_path / "liar", chain=liar) as bad:
            async with running_service(tmp_path / "b", b_chain, static_peers=[bad.addr]) as b:
                assert await wait_until(lambda: b.sync.dropped, timeout=30)
                dropped_id, reason = b.sync.dropped[0]
                assert dropped_id == bad.host.peer_id and "invalid block at slot 70" in reason
                # Goodbye(3) went out and the liar is banned, so the static redial is refused.
                assert ("sent", bad.host.peer_id, 3) in b.peer_manager.goodbyes
                assert bad.host.peer_id in b.peer_manager.banned
                # The good blocks before it were kept; nothing after it was imported.
                assert b_chain.head.slot == 69
                assert ("received", b.host.peer_id, 3) in bad.peers.goodbyes or await wait_until(
                    lambda: ("received", b.host.peer_id, 3) in bad.peers.goodbyes, timeout=5)

    run(main)
    b_chain.close()


def test_malformed_requests_get_result_1_and_the_node_keeps_serving(tmp_path: Path) -> None:
    pre = chain_of(128)
    a_chain = open_chain(tmp_path / "a-db", pre, 30)

    async def main() -> None:
        async with running_service(tmp_path / "a", a_chain) as a:
            async with running_node(tmp_path / "client", chain=MemoryChain.with_blocks([0])) as client:
                await client.host.dial(a.multiaddr())
                lib, pid = client.host.libp2p, a.host.peer_id
                cases = [
                    b"\x01" * 55,  # one byte short of a BeaconBlocksRequest
                    m.BeaconBlocksRequest(b"\x42" * 32, 0, 10, 1).encode(),  # unknown head root
                    m.BeaconBlocksRequest(a_chain.head.root, 0, 10, 0).encode(),  # step 0
                ]
                for payload in cases:
                    with pytest.raises(reqresp.ErrorResponse) as info:
                        await reqresp.request(lib, pid, BEACON_BLOCKS_ID, payload, 1 << 22)
                    assert info.value.code == 1
                # The same connection still gets real answers.
                req = m.BeaconBlocksRequest(a_chain.head.root, 25, 10, 1)
                got = await reqresp.request_beacon_blocks(lib, pid, req, lambda b: a.view.block_slot(b) is not None)
                assert [int(x.slot) for x in (a_chain.types.BeaconBlock.deserialize(b) for b in got)] == [25, 26, 27, 28, 29, 30]
                assert a.peer_manager.peers[client.host.peer_id].score == -30  # each bad request counted
                assert a.host.is_connected(client.host.peer_id)

    run(main)
    a_chain.close()


def test_invalid_gossip_flood_does_not_stop_block_import(tmp_path: Path) -> None:
    """A flooder publishes junk and forged blocks to B while A gossips real blocks:
    B imports every real block, drops and bans the flooder, and keeps running."""
    pre = chain_of(128)
    blocks = pre.decoded()
    a_chain = open_chain(tmp_path / "a-db", pre, 10)
    b_chain = open_chain(tmp_path / "b-db", pre, 10)

    class AcceptAll(MemoryChain):
        async def validate_gossip(self, topic, data):  # type: ignore[no-untyped-def]
            from beacon.p2p.interface import GossipVerdict

            return GossipVerdict.ACCEPT

    async def main() -> None:
        async with running_service(tmp_path / "a", a_chain) as a:
            async with running_service(tmp_path / "b", b_chain, static_peers=[a.multiaddr()]) as b:
                async with running_node(tmp_path / "flood", chain=AcceptAll.with_blocks([0]), gossip=True,
                                        static_peers=[b.multiaddr()]) as flooder:
                    assert flooder.gossip is not None
                    assert await wait_until(lambda: b.host.peer_id in flooder.gossip.mesh_peers(TOPIC_BEACON_BLOCK)
                                            and a.host.peer_id in b.gossip.mesh_peers(TOPIC_BEACON_BLOCK), timeout=10)

                    async def flood() -> None:
                        for i in range(40):
                            forged = blocks[10 + i % 5].copy()
                            forged.signature = b"\x0c" + bytes(95)  # not a valid signature
                            junk = forged.serialize() if i % 2 else b"\xff" * (100 + i)
                            try:
                                await flooder.gossip.publish(TOPIC_BEACON_BLOCK, junk)
                            except Exception:
                                return  # dropped by B: the connection is gone
                            await trio.sleep(0.02)

                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(flood)
                        for block in blocks[10:16]:
                            await a.publish_block(block)
                            root = block.signing_root()
                            assert await wait_until(lambda: b_chain.head.root == root, timeout=10)
                    assert await wait_until(lambda: flooder.host.peer_id in b.peer_manager.banned, timeout=10)
                    assert ("sent", flooder.host.peer_id, 3) in b.peer_manager.goodbyes
                    # Each REJECT cost it 10 points (forged blocks whose parent B lacks are
                    # IGNOREd instead, and the parent lookup they trigger gets the flooder's
                    # junk answer, which costs the rest).
                    assert b.gossip.rejected.get(TOPIC_BEACON_BLOCK, 0) >= 3, b.gossip.rejected
                    # A is untouched and B still imports afterwards.
                    assert b.peer_manager.peers[a.host.peer_id].state is HandshakeState.ACTIVE
                    await a.publish_block(blocks[16])
                    assert await wait_until(lambda: b_chain.head.root == blocks[16].signing_root(), timeout=10)

    run(main)
    a_chain.close()
    b_chain.close()


def _genesis_file(tmp_path: Path, validators: int = 16):  # type: ignore[no-untyped-def]
    from genesis.load import write_state
    from genesis.state import create_interop_genesis_state

    genesis = create_interop_genesis_state(load_config("minimal"), validators, int(time.time()) - 13)
    path = tmp_path / "genesis.ssz"
    write_state(genesis, path)
    return genesis, path


@pytest.mark.parametrize("with_genesis", [False, True])
def test_probe_passes_every_step_against_pybeacon(tmp_path: Path, with_genesis: bool) -> None:
    genesis, gpath = _genesis_file(tmp_path)
    chain = Chain.open(tmp_path / "db", genesis)
    output: list[str] = []

    async def main() -> None:
        async with running_service(tmp_path / "node", chain) as node:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(propose_every_slot, node, chain, genesis)
                args = [sys.executable, "-m", "beacon.cli", "probe", node.multiaddr(), "--timeout", "10"]
                if with_genesis:
                    args += ["--genesis", str(gpath)]
                proc = await trio.run_process(args, capture_stdout=True, capture_stderr=True, check=False)
                output.append(proc.stdout.decode())
                output.append(str(proc.returncode))
                nursery.cancel_scope.cancel()

    run(main, timeout=90)
    text, rc = output
    steps = ["tcp connect", "multistream", "secio", "mplex", "hello", "beacon_blocks", "recent_beacon_blocks",
             "gossip subscription", "gossip message", "goodbye"]
    for step in steps:
        assert any(line.startswith("PASS") and line[6:].startswith(step) for line in text.splitlines()), (step, text)
    assert "FAIL" not in text and rc == "0", text
    assert ("no --genesis" in text) is (not with_genesis)
    chain.close()


def test_probe_reports_failure_with_bytes_seen(tmp_path: Path) -> None:
    """A listener that answers with garbage: TCP passes, multistream fails with the bytes
    shown, the exit status is 1."""
    output: list[str] = []

    async def main() -> None:
        async def garbage(stream: trio.SocketStream) -> None:
            await stream.send_all(b"\x13HTTP/1.1 400 Bad\r\n")
            await trio.sleep(1)
            await stream.aclose()

        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, garbage, 0, )
            port = listeners[0].socket.getsockname()[1]
            addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/16Uiu2HAm3gAcceLcvqKTbzEKEMYm7XoMgwnLM7dUCPYHGW5eamdS"
            proc = await trio.run_process([sys.executable, "-m", "beacon.cli", "probe", addr, "--timeout", "3"],
                                          capture_stdout=True, capture_stderr=True, check=False)
            output.extend([proc.stdout.decode(), str(proc.returncode)])
            nursery.cancel_scope.cancel()

    run(main, timeout=60)
    text, rc = output
    assert rc == "1", text
    assert "PASS  tcp connect" in text
    assert "FAIL  multistream" in text and "bytes seen: 1348545450" in text  # varint 19, then "HTTP"
    assert "FAIL  secio" in text
    assert "SKIP  goodbye" in text
