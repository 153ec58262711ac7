"""discv5 messages: malformed input is a MessageError naming the problem; a bad record inside
NODES is dropped without losing the others."""
from __future__ import annotations

import pytest

from beacon.p2p.discv5 import crypto, messages as m
from beacon.p2p.discv5.enr import ENR


def test_nodes_message_with_a_bad_record_keeps_the_good_ones() -> None:
    import rlp

    good = ENR.create(crypto.new_secret(), 3, ip="127.0.0.1", udp=9000)
    tampered = rlp.decode(good.raw)
    tampered[1] = b"\x04"  # seq changed after signing
    data = bytes([m.NODES]) + rlp.encode([b"\x01", b"\x01", [tampered, rlp.decode(good.raw), [b"x"]]])
    nodes = m.decode(data)
    assert isinstance(nodes, m.Nodes) and nodes.records[1] == good
    assert [type(r).__name__ for r in nodes.records] == ["ENRError", "ENR", "ENRError"]
    assert "signature does not verify" in str(nodes.records[0])


@pytest.mark.parametrize("data, reason", [
    (b"", "empty message"),
    (bytes([m.PING]) + b"\xff", "bad RLP"),
    (bytes([m.PING]), "bad RLP"),
    (bytes([m.PING]) + bytes.fromhex("c3820001"), "wrong number of fields"),
    (bytes([m.FINDNODE]) + bytes.fromhex("c5820001c28201"), "bad RLP"),
    (bytes([m.FINDNODE]) + bytes.fromhex("c682000182ffff"), "must be a list"),
    (bytes([99]) + bytes.fromhex("c20102"), "unknown message type 99"),
])
def test_malformed_messages(data: bytes, reason: str) -> None:
    with pytest.raises(m.MessageError, match=reason):
        m.decode(data)
