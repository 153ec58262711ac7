"""ENR (EIP-778): the spec's example record, round trips, and every kind of malformed record."""
from __future__ import annotations

import base64

import pytest
import rlp

from beacon.p2p.discv5 import crypto
from beacon.p2p.discv5.enr import ENR, ENRError, ENRForkID, compute_fork_digest

# EIP-778 "Test Vectors".
EXAMPLE = ("enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0"
           "gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8")
EXAMPLE_KEY = bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
EXAMPLE_ID = "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"


def test_eip778_example_decodes() -> None:
    r = ENR.from_text(EXAMPLE)
    assert r.seq == 1
    assert r.node_id.hex() == EXAMPLE_ID
    assert r.ip == "127.0.0.1" and r.udp == 30303 and r.tcp is None and r.eth2 is None
    assert r.public_key.hex() == "03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
    assert r.signature.hex().startswith("7098ad865b00a582051940cb")
    assert r.to_text() == EXAMPLE


def test_eip778_example_is_reproduced_by_signing() -> None:
    # libsecp256k1 signs deterministically (RFC 6979), so our record is the spec's byte for byte.
    assert ENR.create(EXAMPLE_KEY, 1, ip="127.0.0.1", udp=30303).to_text() == EXAMPLE


def test_round_trip_with_eth2_field() -> None:
    fork = ENRForkID.for_chain(b"\x00\x00\x00\x01", b"\x11" * 32)
    r = ENR.create(EXAMPLE_KEY, 7, ip="10.1.2.3", tcp=9000, udp=9001, eth2=fork.encode())
    back = ENR.from_text(r.to_text())
    assert back == r and back.node_id == r.node_id
    assert back.eth2 == fork and back.eth2.next_fork_version == b"\x00\x00\x00\x01"
    assert back.describe()["eth2"]["next_fork_epoch"] == 2**64 - 1
    assert (back.ip, back.tcp, back.udp) == ("10.1.2.3", 9000, 9001)
    assert compute_fork_digest(b"\0" * 4, b"\x11" * 32) != compute_fork_digest(b"\0" * 4, b"\x12" * 32)


def _resign(items: list, secret: bytes = EXAMPLE_KEY) -> str:
    sig = crypto.sign(secret, crypto.keccak256(rlp.encode(items[1:])))
    return "enr:" + base64.urlsafe_b64encode(rlp.encode([sig] + items[1:])).decode().rstrip("=")


def _items() -> list:
    return rlp.decode(ENR.from_text(EXAMPLE).raw)


@pytest.mark.parametrize("text, reason", [
    ("", "starts with 'enr:'"),
    ("enode://abc", "starts with 'enr:'"),
    ("enr:", "not URL-safe base64"),
    ("enr:abc+/", "not URL-safe base64"),
    ("enr:" + base64.urlsafe_b64encode(b"\xff\x00").decode().rstrip("="), "not valid RLP"),
    ("enr:" + base64.urlsafe_b64encode(rlp.encode(b"x" * 10)).decode().rstrip("="), "must be an RLP list"),
    ("enr:" + base64.urlsafe_b64encode(rlp.encode([b"x" * 400])).decode().rstrip("="), "over the 300-byte limit"),
    (EXAMPLE[:-4], "not valid RLP"),
])
def test_malformed_text(text: str, reason: str) -> None:
    with pytest.raises(ENRError, match=reason):
        ENR.from_text(text)


def test_tampered_records_are_refused() -> None:
    items = _items()
    # Changing a value without re-signing breaks the signature.
    bad = list(items)
    bad[5] = b"\x7f\x00\x00\x02"
    raw = rlp.encode(bad)
    with pytest.raises(ENRError, match="signature does not verify"):
        ENR.from_rlp(raw)
    # Odd number of items, unsorted or duplicate keys, wrong scheme, bad key, bad ports.
    with pytest.raises(ENRError, match="signature, seq, key, value"):
        ENR.from_text(_resign(items[:-1]))
    swapped = items[:2] + items[4:6] + items[2:4] + items[6:]
    with pytest.raises(ENRError, match="not sorted and unique"):
        ENR.from_text(_resign(swapped))
    dup = items[:4] + items[2:4] + items[4:]
    with pytest.raises(ENRError, match="not sorted and unique"):
        ENR.from_text(_resign(dup))
    with pytest.raises(ENRError, match="identity scheme"):
        ENR.from_text(_resign(items[:3] + [b"v5"] + items[4:]))
    with pytest.raises(ENRError, match="secp256k1 field"):
        ENR.from_text(_resign(items[:7] + [b"\x02" + b"\xff" * 32] + items[8:]))
    with pytest.raises(ENRError, match="udp port .* out of range"):
        ENR.from_text(_resign(items[:9] + [(70000).to_bytes(3, "big")]))
    with pytest.raises(ENRError, match="leading zero"):
        ENR.from_text(_resign([items[0], b"\x00\x01"] + items[2:]))
    with pytest.raises(ENRError, match="ip field must be 4 bytes"):
        ENR.from_text(_resign(items[:5] + [b"\x7f\x00\x01"] + items[6:]))
    with pytest.raises(ENRError, match="eth2 field must be 16 bytes"):
        ENR.from_text(_resign(items[:2] + [b"eth2", b"\x00" * 15] + items[2:]))
    # Signed by a different key than the one in the record.
    with pytest.raises(ENRError, match="signature does not verify"):
        ENR.from_text(_resign(items, secret=b"\x01" * 32))
