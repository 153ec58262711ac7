"""Req/resp over real TCP: Hello and Goodbye rules, block requests, malformed and
oversized requests, timeouts, half-close."""
from __future__ import annotations

from pathlib import Path

import pytest
import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF, StreamError

from beacon.p2p import messages as m
from beacon.p2p import reqresp
from beacon.p2p.constants import BEACON_BLOCKS_ID, HELLO_ID, RECENT_BEACON_BLOCKS_ID, REQ_RESP_MAX_SIZE
from beacon.p2p.peers import HandshakeState

from .harness import running_node, wait_until
from .memchain import NULL_BLOCK, SLOTS_PER_EPOCH, MemoryChain, root_of


def run(fn, *args, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    async def bounded():  # type: ignore[no-untyped-def]
        with trio.fail_after(timeout):
            return await fn(*args)

    return trio.run(bounded)


# -- framing units -------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**20, 2**63 - 1, 2**64 - 1])
def test_varint_round_trip(value: int) -> None:
    encoded = reqresp.encode_varint(value)
    assert reqresp.decode_varint(encoded + b"\xff") == (value, len(encoded))
    assert len(encoded) == max(1, (value.bit_length() + 6) // 7)


def test_varint_known_encodings() -> None:
    # protobuf's documented example: 300 -> ac 02
    assert reqresp.encode_varint(300) == bytes.fromhex("ac02")
    assert reqresp.encode_varint(1) == b"\x01"


def test_message_encodings_have_spec_sizes() -> None:
    hello = m.HelloMessage(b"\x01\x02\x03\x04", b"\x11" * 32, 7, b"\x22" * 32, 99)
    raw = hello.encode()
    assert len(raw) == 84
    assert raw[:4] == b"\x01\x02\x03\x04" and raw[36:44] == (7).to_bytes(8, "little")
    assert m.HelloMessage.decode(raw) == hello
    req = m.BeaconBlocksRequest(b"\x33" * 32, 5, 10, 2)
    assert len(req.encode()) == 56 and m.BeaconBlocksRequest.decode(req.encode()) == req
    assert m.decode_goodbye(m.encode_goodbye(2)) == 2
    blocks = [b"a", b"", b"ccc"]
    assert m.decode_block_list(m.encode_block_list(blocks), 10) == blocks
    assert m.encode_block_list([]) == b""
    with pytest.raises(m.DecodeError):
        m.HelloMessage.decode(raw[:-1])
    with pytest.raises(m.DecodeError):
        m.decode_block_list(b"\x08\x00\x00\x00\x04\x00\x00\x00", 10)  # offsets go backwards


def test_message_types_use_the_shared_ssz_layer() -> None:
    import beacon.ssz
    from beacon.p2p.wire_types import BlockRootsSSZ, HelloMessageSSZ

    assert m.DecodeError is beacon.ssz.DecodeError
    assert HelloMessageSSZ.fixed_size() == m.HelloMessage.SSZ_SIZE
    roots = [bytes([i]) * 32 for i in range(3)]
    assert m.decode_root_list(m.encode_recent_beacon_blocks_request(roots), 3) == (roots, False)
    with pytest.raises(m.DecodeError):
        m.decode_root_list(b"\x00" * 33, 3)
    with pytest.raises(m.DecodeError):
        m.decode_root_list(b"\x00" * 32 * 4, 3)
    with pytest.raises(m.DecodeError):  # over the List limit itself
        BlockRootsSSZ.deserialize(b"\x00" * 32 * 1025)


# -- Hello / Goodbye -------------------------------------------------------------------


def test_hello_exchange_makes_both_peers_active(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain_b = MemoryChain.with_blocks([0, 1, 2, 5])
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b", chain=chain_b) as b:
            await a.host.dial(b.addr)
            assert await wait_until(lambda: len(a.peers.active_peers()) == 1 and len(b.peers.active_peers()) == 1)
            seen_by_a = a.peers.peers[b.host.peer_id]
            seen_by_b = b.peers.peers[a.host.peer_id]
            assert (seen_by_a.direction, seen_by_b.direction) == ("outbound", "inbound")
            assert seen_by_a.state is seen_by_b.state is HandshakeState.ACTIVE
            # A learnt B's status from B's answer, and B learnt A's from A's request.
            assert seen_by_a.hello == b.peers.local_hello()
            assert seen_by_a.hello is not None and seen_by_a.hello.head_slot == 5
            assert seen_by_a.hello.head_root == root_of(chain_b.blocks_by_slot[5])
            assert seen_by_b.hello == a.peers.local_hello()
            assert a.peers.goodbyes == [] and b.peers.goodbyes == []

    run(scenario)


def test_fork_version_mismatch_ends_in_goodbye_2(tmp_path: Path) -> None:
    async def scenario() -> None:
        other_fork = MemoryChain.with_blocks([0], fork=b"\x00\x00\x00\x01")
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b", chain=other_fork) as b:
            await a.host.dial(b.addr)
            assert await wait_until(lambda: not a.host.is_connected(b.host.peer_id) and not b.host.is_connected(a.host.peer_id))
            # The dialler judged B's answer and said Goodbye(2); B, judging A's Hello
            # after answering it, may have said the same.
            assert ("sent", b.host.peer_id, m.GoodbyeReason.IRRELEVANT_NETWORK) in a.peers.goodbyes
            assert all(reason == 2 for _, _, reason in a.peers.goodbyes + b.peers.goodbyes)
            assert a.peers.active_peers() == [] and b.peers.active_peers() == []

    run(scenario)


def test_conflicting_finalized_checkpoint_ends_in_goodbye_2(tmp_path: Path) -> None:
    async def scenario() -> None:
        slots = range(0, 3 * SLOTS_PER_EPOCH)
        ours = MemoryChain.with_blocks(slots, tag=b"ours")
        ours.finalized_epoch = 2
        theirs = MemoryChain.with_blocks(slots, tag=b"theirs")  # same fork, other blocks
        theirs.finalized_epoch = 1
        async with running_node(tmp_path / "a", chain=theirs) as a, running_node(tmp_path / "b", chain=ours) as b:
            # B has finalized epoch 2, so B can tell that A's epoch-1 root is not in its chain.
            assert b.peers.hello_verdict(a.peers.local_hello()) is not None
            await a.host.dial(b.addr)
            assert await wait_until(lambda: ("sent", a.host.peer_id, 2) in b.peers.goodbyes)
            assert await wait_until(lambda: not a.host.is_connected(b.host.peer_id))

    run(scenario)


def test_same_chain_with_finality_is_accepted(tmp_path: Path) -> None:
    async def scenario() -> None:
        slots = range(0, 3 * SLOTS_PER_EPOCH)
        ahead = MemoryChain.with_blocks(slots)
        ahead.finalized_epoch = 2
        behind = MemoryChain.with_blocks(range(0, 2 * SLOTS_PER_EPOCH))
        behind.finalized_epoch = 1
        async with running_node(tmp_path / "a", chain=behind) as a, running_node(tmp_path / "b", chain=ahead) as b:
            await a.host.dial(b.addr)
            assert await wait_until(lambda: len(a.peers.active_peers()) == 1 and len(b.peers.active_peers()) == 1)
            assert a.peers.goodbyes == [] and b.peers.goodbyes == []

    run(scenario)


def test_shutdown_sends_goodbye_1(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b") as b:
            await a.host.dial(b.addr)
            assert await wait_until(lambda: len(b.peers.active_peers()) == 1)
            await a.peers.shutdown()
            assert ("sent", b.host.peer_id, m.GoodbyeReason.CLIENT_SHUTDOWN) in a.peers.goodbyes
            assert await wait_until(lambda: ("received", a.host.peer_id, 1) in b.peers.goodbyes)
            assert await wait_until(lambda: not b.host.is_connected(a.host.peer_id))

    run(scenario)


# -- block requests ----------------------------------------------------------------------


def test_beacon_blocks_by_range_with_step_and_empty_slots(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain_b = MemoryChain.with_blocks([0, 1, 2, 4, 6, 7, 8, 10])
        head_root, _ = chain_b.head()
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b", chain=chain_b) as b:
            await a.host.dial(b.addr)
            req = m.BeaconBlocksRequest(head_root, start_slot=2, count=5, step=2)  # 2,4,6,8,10
            got = await reqresp.request_beacon_blocks(a.host.libp2p, b.host.peer_id, req, chain_b.is_block)
            assert got == [chain_b.blocks_by_slot[s] for s in (2, 4, 6, 8, 10)]
            req = m.BeaconBlocksRequest(head_root, start_slot=3, count=3, step=1)  # 3 is empty
            got = await reqresp.request_beacon_blocks(a.host.libp2p, b.host.peer_id, req, chain_b.is_block)
            assert got == [chain_b.blocks_by_slot[4]]
            with pytest.raises(reqresp.ErrorResponse) as err:
                await reqresp.request_beacon_blocks(a.host.libp2p, b.host.peer_id, m.BeaconBlocksRequest(b"\x99" * 32, 0, 4, 1), chain_b.is_block)
            assert err.value.code == 1 and "head_block_root" in err.value.message

    run(scenario)


def test_recent_beacon_blocks_keeps_order_and_fills_unknown(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain_b = MemoryChain.with_blocks([0, 1, 2])
        roots = [root_of(chain_b.blocks_by_slot[2]), b"\x42" * 32, root_of(chain_b.blocks_by_slot[0])]
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b", chain=chain_b) as b:
            await a.host.dial(b.addr)
            got = await reqresp.request_recent_beacon_blocks(a.host.libp2p, b.host.peer_id, roots, chain_b.is_block)
            assert got == [chain_b.blocks_by_slot[2], NULL_BLOCK, chain_b.blocks_by_slot[0]]

    run(scenario)


# -- malformed, oversized, slow ---------------------------------------------------------


def test_malformed_payload_gets_result_1_and_the_host_keeps_serving(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain_b = MemoryChain.with_blocks([0, 1])
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b", chain=chain_b) as b:
            await a.host.dial(b.addr)
            assert await wait_until(lambda: len(b.peers.active_peers()) == 1)
            # A Hello must be 84 bytes: send 5 well-framed bytes.
            with pytest.raises(reqresp.ErrorResponse) as err:
                await reqresp.request(a.host.libp2p, b.host.peer_id, HELLO_ID, b"\x00" * 5, 1024)
            assert err.value.code == 1 and "84" in err.value.message
            # Truncated: the frame promises 56 bytes, 10 arrive, then half-close.
            stream = await a.host.libp2p.new_stream(b.host.peer_id, [TProtocol(BEACON_BLOCKS_ID)])
            await stream.write(reqresp.encode_varint(56) + b"\x01" * 10)
            await stream.close_write()
            reader = reqresp.StreamReader(stream)
            assert await reader.read_byte() == 1
            assert "ended after 10 of 56" in m.decode_error_message(await reader.read_payload(1024))
            assert b.peers.server.stats.invalid == 2
            assert b.peers.peers[a.host.peer_id].score < 0

            # Still serving, on the same connection.
            hello = await reqresp.send_hello(a.host.libp2p, b.host.peer_id, a.peers.local_hello())
            assert hello == b.peers.local_hello()
            head_root, _ = chain_b.head()
            blocks = await reqresp.request_beacon_blocks(a.host.libp2p, b.host.peer_id, m.BeaconBlocksRequest(head_root, 0, 2, 1), chain_b.is_block)
            assert blocks == [chain_b.blocks_by_slot[0], chain_b.blocks_by_slot[1]]

    run(scenario)


def test_oversized_length_is_rejected_before_any_payload_is_read(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b") as b:
            await a.host.dial(b.addr)
            assert await wait_until(lambda: len(b.peers.active_peers()) == 1)
            stream = await a.host.libp2p.new_stream(b.host.peer_id, [TProtocol(RECENT_BEACON_BLOCKS_ID)])
            # Claim 2**40 bytes and send none of them; keep our write side open. If B
            # tried to read (or allocate) the payload it would sit until RESP_TIMEOUT;
            # it must reset the stream as soon as the varint is complete.
            await stream.write(reqresp.encode_varint(2**40))
            start = trio.current_time()
            with trio.fail_after(2):
                with pytest.raises((StreamEOF, StreamError)):
                    while True:
                        if not await stream.read(1024):
                            raise StreamEOF()
            assert trio.current_time() - start < 2
            assert b.peers.server.stats.oversized == 1
            assert b.peers.peers[a.host.peer_id].score < 0
            # One byte over the exact size of a fixed message is oversized too.
            stream = await a.host.libp2p.new_stream(b.host.peer_id, [TProtocol(HELLO_ID)])
            await stream.write(reqresp.encode_varint(85))
            with trio.fail_after(2):
                with pytest.raises((StreamEOF, StreamError)):
                    while True:
                        if not await stream.read(1024):
                            raise StreamEOF()
            assert b.peers.server.stats.oversized == 2
            # B still answers.
            assert await reqresp.send_hello(a.host.libp2p, b.host.peer_id, a.peers.local_hello()) == b.peers.local_hello()

    run(scenario)


def test_requester_rejects_an_oversized_response_length(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b") as b:
            proto = "/pybeacon/test/liar/1/ssz"

            async def liar(stream) -> None:  # type: ignore[no-untyped-def]
                await stream.read(1024)
                # success, then a length far beyond the limit, then nothing
                await stream.write(b"\x00" + reqresp.encode_varint(REQ_RESP_MAX_SIZE + 1))
                await trio.sleep(5)

            b.host.libp2p.set_stream_handler(TProtocol(proto), liar)
            await a.host.dial(b.addr)
            with trio.fail_after(2):
                with pytest.raises(reqresp.PayloadTooLarge):
                    await reqresp.request(a.host.libp2p, b.host.peer_id, proto, b"x", REQ_RESP_MAX_SIZE)

    run(scenario)


def test_ttfb_timeout_fires_when_the_responder_is_silent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b") as b:
            proto = "/pybeacon/test/silent/1/ssz"

            async def silent(stream) -> None:  # type: ignore[no-untyped-def]
                await trio.sleep(10)

            b.host.libp2p.set_stream_handler(TProtocol(proto), silent)
            await a.host.dial(b.addr)
            start = trio.current_time()
            with pytest.raises(reqresp.RequestTimeout):
                await reqresp.request(a.host.libp2p, b.host.peer_id, proto, b"x", 100, ttfb_timeout=0.5)
            assert 0.5 <= trio.current_time() - start < 2

    run(scenario)


def test_half_close_ends_the_request_without_waiting(tmp_path: Path) -> None:
    """The responder sees EOF right after the payload (mplex Close frame), so it answers
    at once instead of waiting out its EOF grace period."""

    async def scenario() -> None:
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b") as b:
            await a.host.dial(b.addr)
            for _ in range(3):
                start = trio.current_time()
                await reqresp.send_hello(a.host.libp2p, b.host.peer_id, a.peers.local_hello())
                assert trio.current_time() - start < reqresp.EOF_GRACE / 2

    run(scenario)


def test_trailing_bytes_after_the_payload_are_invalid(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "a") as a, running_node(tmp_path / "b") as b:
            await a.host.dial(b.addr)
            stream = await a.host.libp2p.new_stream(b.host.peer_id, [TProtocol(HELLO_ID)])
            await stream.write(reqresp.frame(a.peers.local_hello().encode()) + b"extra")
            await stream.close_write()
            reader = reqresp.StreamReader(stream)
            assert await reader.read_byte() == 1
            assert "after the declared payload" in m.decode_error_message(await reader.read_payload(1024))

    run(scenario)
