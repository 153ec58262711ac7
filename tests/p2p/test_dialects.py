"""Every dialect rule of docs/interop.md ("Dialects"), each over real sockets against a
peer that speaks it (tests/p2p/dialect_peer.py), with pybeacon's real P2PService on a
real chain. A peer that merely speaks another dialect must never be scored or dropped."""
from __future__ import annotations

from pathlib import Path

import pytest
import trio

from beacon.p2p import messages as m
from beacon.p2p import reqresp
from beacon.p2p.constants import (
    BEACON_BLOCKS_BY_RANGE_ID, BEACON_BLOCKS_BY_ROOT_ID, BEACON_BLOCKS_ID, RECENT_BEACON_BLOCKS_ID, STATUS_ID,
    TOPIC_BEACON_BLOCK,
)
from beacon.p2p.peers import HandshakeState
from beacon.p2p.service import P2PConfig

from .dialect_peer import TRINITY, V084, WRAP, Profile, dialect_peer
from .harness import running_node
from .memchain import NULL_BLOCK, MemoryChain, root_of
from .service_harness import chain_of, open_chain, running_service, wait_until


def run(fn, *args, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    async def bounded():  # type: ignore[no-untyped-def]
        with trio.fail_after(timeout):
            return await fn(*args)

    return trio.run(bounded)


# -- decoding every framing (no sockets) --------------------------------------------------


def is_block(b: bytes) -> bool:
    return b.startswith(b"block-")


@pytest.mark.parametrize("blocks", [[], [b"block-1-"], [b"block-1-", b"block-2-xx", b"block-3-"]])
def test_block_payload_decodes_in_every_framing(blocks: list[bytes]) -> None:
    bare = m.encode_block_list(blocks)
    assert m.decode_block_payload(bare, is_block, 10) == (blocks, False)
    assert m.decode_block_payload(WRAP + bare, is_block, 10) == (blocks, True)
    for b in blocks:  # a v0.8.4 chunk holds one block
        assert m.decode_block_payload(b, is_block, 10) == ([b], False)


def test_block_payload_that_fits_no_framing_names_its_bytes() -> None:
    with pytest.raises(m.DecodeError, match="neither a block nor a block list.*beginning 0800"):
        m.decode_block_payload(b"\x08\x00\x00\x00\x08\x00\x00\x00junk", is_block, 10)


def test_root_lists_and_error_messages_decode_in_both_forms() -> None:
    roots = [bytes([i]) * 32 for i in range(3)]
    bare = m.encode_recent_beacon_blocks_request(roots)
    assert m.decode_root_list(bare, 8) == (roots, False)
    assert m.decode_root_list(WRAP + bare, 8) == (roots, True)
    assert m.decode_root_list(WRAP, 8) == ([], True)
    with pytest.raises(m.DecodeError, match="4 roots requested, limit is 3"):
        m.decode_root_list(bare + roots[0], 3)
    assert m.decode_error_message(b"unknown head") == "unknown head"
    assert m.decode_error_message(WRAP + b"unknown head") == "unknown head"


# -- pybeacon following a Trinity-dialect peer ---------------------------------------------


def test_follows_a_trinity_dialect_peer_by_range_sync_gossip_and_lookup(tmp_path: Path) -> None:
    """The Trinity dialect all at once: it names blocks by hash_tree_root, wraps its
    lists, reads only wrapped root lists, never sends Hello and gossips unsigned. pybeacon
    dials it, syncs its chain by range, takes its unsigned gossip, and never scores it."""
    pre = chain_of(128)
    blocks = pre.decoded()
    theirs = open_chain(tmp_path / "t-db", pre, 40)
    ours = open_chain(tmp_path / "p-db", pre, 5)

    async def main() -> None:
        async with dialect_peer(tmp_path / "t", theirs, TRINITY) as t:
            async with running_service(tmp_path / "p", ours, static_peers=[t.addr]) as p:
                # Range sync: asked by its own (hash_tree_root) head name, answered wrapped.
                assert await wait_until(lambda: ours.head.slot == 40, timeout=20)
                d = p.peer_manager.dialect(t.host.peer_id)
                # Learnt when the sync's pipeline returns, which may be just after the head moved.
                assert await wait_until(lambda: d.names_blocks_by_hash_tree_root is not None, timeout=10)
                assert d.names_blocks_by_hash_tree_root is True and d.wraps_single_field is True
                assert any(proto == BEACON_BLOCKS_ID for proto, _ in t.requests)
                # Unsigned gossip is taken.
                assert await wait_until(lambda: t.host.peer_id in p.gossip.mesh_peers(TOPIC_BEACON_BLOCK), timeout=10)
                assert theirs.import_block(blocks[40]).status.value == "imported"
                await t.publish_block(blocks[40].serialize())
                assert await wait_until(lambda: ours.head.root == blocks[40].signing_root(), timeout=10)
                assert p.gossip.unsigned >= 1 and d.signs_gossip is False
                # A lookup by root reaches it wrapped (it drops the bare form unanswered).
                got = await reqresp.request_recent_beacon_blocks(
                    p.host.libp2p, t.host.peer_id, [t.name(blocks[3].signing_root())],
                    lambda b: p.view.block_slot(b) is not None, d)
                assert got == [blocks[3].serialize()]
                peer = p.peer_manager.peers[t.host.peer_id]
                assert peer.state is HandshakeState.ACTIVE and peer.score == 0 and p.sync.dropped == []

    run(main)
    theirs.close()
    ours.close()


def test_a_peer_that_dials_and_never_says_hello_gets_ours(tmp_path: Path) -> None:
    """Trinity dialled and then waited: pybeacon sends Hello itself after a short grace,
    and answers that peer's wrapped by-root request in the wrapped form it reads."""
    pre = chain_of(128)
    blocks = pre.decoded()
    theirs = open_chain(tmp_path / "t-db", pre, 3)
    ours = open_chain(tmp_path / "p-db", pre, 10)

    async def main() -> None:
        async with running_service(tmp_path / "p", ours) as p:
            async with dialect_peer(tmp_path / "t", theirs, TRINITY, static_peers=(p.multiaddr(),)) as t:
                assert await wait_until(lambda: len(t.hellos) == 1, timeout=10)  # ours, unasked
                assert t.hellos[0].head_slot == 10
                assert await wait_until(lambda: [q.state for q in p.peer_manager.active_peers()] == [HandshakeState.ACTIVE])
                d = p.peer_manager.dialect(t.host.peer_id)
                assert d.sends_hello is False
                roots = [blocks[1].signing_root(), b"\x42" * 32]
                raw = await t.request(p.host.peer_id, "recent_beacon_blocks", WRAP + b"".join(roots))
                assert raw[0] == 0 and d.wraps_single_field is True
                length, used = reqresp.decode_varint(raw[1:])
                body = raw[1 + used:]
                assert len(body) == length and body.startswith(WRAP)  # answered in its form
                items = m.decode_block_list(body[4:], 2)
                assert items == [blocks[1].serialize(), ours.types.BeaconBlock().serialize()]  # v0.8.3: null where unknown
                assert p.peer_manager.peers[t.host.peer_id].score == 0

    run(main)
    theirs.close()
    ours.close()


def test_answers_requests_by_either_block_root(tmp_path: Path) -> None:
    pre = chain_of(128)
    blocks = pre.decoded()
    ours = open_chain(tmp_path / "p-db", pre, 12)

    async def main() -> None:
        async with running_service(tmp_path / "p", ours) as p:
            async with running_node(tmp_path / "client") as client:
                await client.host.dial(p.multiaddr())
                lib, pid = client.host.libp2p, p.host.peer_id
                check = lambda b: p.view.block_slot(b) is not None  # noqa: E731
                htr = bytes(blocks[11].hash_tree_root())
                by_range = await reqresp.request_beacon_blocks(lib, pid, m.BeaconBlocksRequest(htr, 10, 5, 1), check)
                assert by_range == [blocks[9].serialize(), blocks[10].serialize(), blocks[11].serialize()]
                names = [bytes(blocks[4].hash_tree_root()), blocks[5].signing_root()]
                assert await reqresp.request_recent_beacon_blocks(lib, pid, names, check) == [
                    blocks[4].serialize(), blocks[5].serialize()]

    run(main)
    ours.close()


# -- v0.8.4 names and chunked framing -------------------------------------------------------


def test_syncs_from_a_v084_only_peer_and_remembers_what_it_refused(tmp_path: Path) -> None:
    """Status / BeaconBlocksByRange / BeaconBlocksByRoot only, one chunk per block, errors
    in an SSZ container: each v0.8.3 name gets `na` once, and is then offered last."""
    pre = chain_of(128)
    theirs = open_chain(tmp_path / "t-db", pre, 30)
    ours = open_chain(tmp_path / "p-db", pre, 2)

    async def main() -> None:
        async with dialect_peer(tmp_path / "t", theirs, V084) as t:
            async with running_service(tmp_path / "p", ours, static_peers=[t.addr]) as p:
                assert await wait_until(lambda: ours.head.slot == 30, timeout=20)
                d = p.peer_manager.dialect(t.host.peer_id)
                assert {STATUS_ID, BEACON_BLOCKS_BY_RANGE_ID} <= d.supported
                assert d.order([BEACON_BLOCKS_ID, BEACON_BLOCKS_BY_RANGE_ID]) == [BEACON_BLOCKS_BY_RANGE_ID, BEACON_BLOCKS_ID]
                assert BEACON_BLOCKS_ID in d.unsupported
                # Its error container is read as text.
                with pytest.raises(reqresp.ErrorResponse) as err:
                    await reqresp.request(p.host.libp2p, t.host.peer_id, BEACON_BLOCKS_BY_ROOT_ID, b"\x01" * 33, 1024)
                assert err.value.message == "bad root list"
                assert p.peer_manager.peers[t.host.peer_id].score == 0 and p.sync.dropped == []

    run(main)
    theirs.close()
    ours.close()


def test_serves_v084_names_one_chunk_per_block_and_v083_names_one_list(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain_b = MemoryChain.with_blocks([0, 1, 2, 4])
        head_root, _ = chain_b.head()
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b", chain=chain_b) as b:
            await a.host.dial(b.addr)
            lib, pid = a.host.libp2p, b.host.peer_id
            req = m.BeaconBlocksRequest(head_root, 1, 4, 1).encode()
            proto, chunks = await reqresp.request_chunks(lib, pid, BEACON_BLOCKS_BY_RANGE_ID, req, 1 << 20, 10,
                                                         more=lambda p, c: True)
            assert (proto, chunks) == (BEACON_BLOCKS_BY_RANGE_ID, [chain_b.blocks_by_slot[s] for s in (1, 2, 4)])
            proto, chunks = await reqresp.request_chunks(lib, pid, BEACON_BLOCKS_ID, req, 1 << 20, 10, more=lambda p, c: True)
            assert chunks == [m.encode_block_list([chain_b.blocks_by_slot[s] for s in (1, 2, 4)])]
            roots = [root_of(chain_b.blocks_by_slot[2]), b"\x42" * 32]
            payload = m.encode_recent_beacon_blocks_request(roots)
            _, chunks = await reqresp.request_chunks(lib, pid, BEACON_BLOCKS_BY_ROOT_ID, payload, 1 << 20, 10,
                                                     more=lambda p, c: True)
            assert chunks == [chain_b.blocks_by_slot[2]]  # v0.8.4: the unknown one is left out
            _, chunks = await reqresp.request_chunks(lib, pid, RECENT_BEACON_BLOCKS_ID, payload, 1 << 20, 10)
            assert chunks == [m.encode_block_list([chain_b.blocks_by_slot[2], NULL_BLOCK])]  # v0.8.3: a null
            # Nothing known: zero chunks, then the stream closes.
            _, chunks = await reqresp.request_chunks(lib, pid, BEACON_BLOCKS_BY_ROOT_ID, roots[1], 1 << 20, 10,
                                                     more=lambda p, c: True)
            assert chunks == []

    run(scenario)


# -- gossip signatures -----------------------------------------------------------------------


def test_gossip_ours_signed_theirs_taken_either_way_a_bad_signature_rejected(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "a", gossip=True) as a, running_node(tmp_path / "b", gossip=True) as b:
            await a.host.dial(b.addr)
            assert await wait_until(lambda: b.host.peer_id in a.gossip.mesh_peers(TOPIC_BEACON_BLOCK)  # type: ignore[union-attr]
                                    and a.host.peer_id in b.gossip.mesh_peers(TOPIC_BEACON_BLOCK))  # type: ignore[union-attr]
            assert a.gossip is not None and b.gossip is not None
            await a.gossip.publish(TOPIC_BEACON_BLOCK, b"signed one")
            assert await wait_until(lambda: (TOPIC_BEACON_BLOCK, b"signed one") in b.received)
            assert b.peers.dialect(a.host.peer_id).signs_gossip is True
            a.gossip.pubsub.sign_messages = False  # now speak Trinity's dialect
            await a.gossip.publish(TOPIC_BEACON_BLOCK, b"unsigned one")
            assert await wait_until(lambda: (TOPIC_BEACON_BLOCK, b"unsigned one") in b.received)
            assert b.peers.dialect(a.host.peer_id).signs_gossip is False and b.gossip.unsigned == 1
            # A signature that does not verify is an offence (not a dialect).
            a.gossip.pubsub.sign_messages = True
            from libp2p.crypto.secp256k1 import create_new_key_pair
            other = create_new_key_pair().private_key  # signs as someone else: cannot verify
            a.host.libp2p.get_private_key = lambda: other  # type: ignore[method-assign]
            await a.gossip.publish(TOPIC_BEACON_BLOCK, b"forged one")
            assert await wait_until(lambda: b.gossip.rejected.get(TOPIC_BEACON_BLOCK) == 1)  # type: ignore[union-attr]
            assert (TOPIC_BEACON_BLOCK, b"forged one") not in b.received
            assert b.peers.peers[a.host.peer_id].score < 0

    run(scenario)


# -- never stuck behind a peer --------------------------------------------------------------


def test_restatus_every_epoch_finds_a_peer_that_moved_on_silently(tmp_path: Path) -> None:
    """The peer's chain grows without gossip or Hello: the per-epoch re-status sees it."""
    pre = chain_of(128)
    blocks = pre.decoded()
    theirs = open_chain(tmp_path / "t-db", pre, 10)
    ours = open_chain(tmp_path / "p-db", pre, 10)

    async def main() -> None:
        async with dialect_peer(tmp_path / "t", theirs, TRINITY) as t:
            async with running_service(tmp_path / "p", ours, static_peers=[t.addr],
                                       config=P2PConfig(restatus_interval=1.0)) as p:
                assert await wait_until(lambda: len(p.peer_manager.active_peers()) == 1)
                for block in blocks[10:20]:
                    theirs.import_block(block)
                assert await wait_until(lambda: ours.head.slot == 20, timeout=15)
                assert len(t.hellos) >= 2  # connect + at least one re-status

    run(main)
    theirs.close()
    ours.close()


def test_an_undecodable_answer_costs_the_request_a_ban_only_when_it_repeats(tmp_path: Path) -> None:
    pre = chain_of(128)
    theirs = open_chain(tmp_path / "t-db", pre, 20)
    ours = open_chain(tmp_path / "p-db", pre, 2)

    async def main() -> None:
        async with dialect_peer(tmp_path / "t", theirs, Profile()) as t:
            # Its range answers are junk: every block loses its body offset.
            real = t._blocks
            t._blocks = lambda bl: real([b[:72] + b"\xff\xff\xff\xff" + b[76:] for b in bl])  # type: ignore[method-assign]
            config = P2PConfig()
            async with running_service(tmp_path / "p", ours, static_peers=[t.addr], config=config) as p:
                assert await wait_until(lambda: p.peer_manager.peers.get(t.host.peer_id) is not None
                                        and p.peer_manager.peers[t.host.peer_id].score < 0, timeout=10)
                peer = p.peer_manager.peers[t.host.peer_id]
                assert peer.score == -10 and p.host.is_connected(t.host.peer_id)  # one request's worth
                assert p.sync.dropped == []
                for _ in range(4):  # it keeps answering junk
                    p.sync._exhausted.clear()
                    p.sync.note_peer_head(t.host.peer_id, t.local_hello().head_root, 20)
                    await trio.sleep(0.5)
                assert await wait_until(lambda: not p.host.is_connected(t.host.peer_id), timeout=10)
                assert t.host.peer_id in p.peer_manager.banned

    run(main)
    theirs.close()
    ours.close()
