"""discv5 v5.1 against the official wire test vectors (devp2p discv5-wire-test-vectors.md).

The vectors are used as inputs only: each packet is decoded by node B and, where every input
is given (masking-iv 0, fixed nonces and keys; signatures are deterministic), encoded again
byte for byte.
"""
from __future__ import annotations

from beacon.p2p.discv5 import crypto, messages
from beacon.p2p.discv5.enr import ENR
from beacon.p2p.discv5.packet import (FLAG_HANDSHAKE, FLAG_MESSAGE, FLAG_WHOAREYOU, HandshakeAuthdata, Header,
                                      decode_packet, encode_packet, whoareyou_authdata)


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()).removeprefix("0x"))


NODE_A_KEY = h("eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f")
NODE_B_KEY = h("66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628")
SRC_ID = h("aaaa8419e9f49d0083561b48287df592939a8d19947d8c0ef88f2a4856a69fbb")
DEST_ID = h("bbbb9d047f0488c0b5a93c1c3f2d8bafc7c8ff337024a55434a0d0555de64db9")
NONCE = h("ffffffffffffffffffffffff")
IV0 = bytes(16)
EPH_KEY = h("0288ef00023598499cb6c940146d050d2b1fb914198c327f76aad590bead68b6")
EPH_PUB = h("039a003ba6517b473fa0cd74aefe99dadfdb34627f90fec6362df85803908f53a5")
REQUEST_NONCE = h("0102030405060708090a0b0c")
ID_NONCE = h("0102030405060708090a0b0c0d0e0f10")

PING_PACKET = h("""
00000000000000000000000000000000088b3d4342774649325f313964a39e55
ea96c005ad52be8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
4c4f53245d08dab84102ed931f66d1492acb308fa1c6715b9d139b81acbdcc""")
WHOAREYOU_PACKET = h("""
00000000000000000000000000000000088b3d434277464933a1ccc59f5967ad
1d6035f15e528627dde75cd68292f9e6c27d6b66c8100a873fcbaed4e16b8d""")
HANDSHAKE_PACKET = h("""
00000000000000000000000000000000088b3d4342774649305f313964a39e55
ea96c005ad521d8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
4c4f53245d08da4bb252012b2cba3f4f374a90a75cff91f142fa9be3e0a5f3ef
268ccb9065aeecfd67a999e7fdc137e062b2ec4a0eb92947f0d9a74bfbf44dfb
a776b21301f8b65efd5796706adff216ab862a9186875f9494150c4ae06fa4d1
f0396c93f215fa4ef524f1eadf5f0f4126b79336671cbcf7a885b1f8bd2a5d83
9cf8""")
HANDSHAKE_ENR_PACKET = h("""
00000000000000000000000000000000088b3d4342774649305f313964a39e55
ea96c005ad539c8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
4c4f53245d08da4bb23698868350aaad22e3ab8dd034f548a1c43cd246be9856
2fafa0a1fa86d8e7a3b95ae78cc2b988ded6a5b59eb83ad58097252188b902b2
1481e30e5e285f19735796706adff216ab862a9186875f9494150c4ae06fa4d1
f0396c93f215fa4ef524e0ed04c3c21e39b1868e1ca8105e585ec17315e755e6
cfc4dd6cb7fd8e1a1f55e49b4b5eb024221482105346f3c82b15fdaae36a3bb1
2a494683b4a3c7f2ae41306252fed84785e2bbff3b022812d0882f06978df84a
80d443972213342d04b9048fc3b1d5fcb1df0f822152eced6da4d3f6df27e70e
4539717307a0208cd208d65093ccab5aa596a34d7511401987662d8cf62b1394
71""")


def challenge_data(enr_seq: int) -> bytes:
    # masking-iv || static-header || authdata of the WHOAREYOU that started the handshake.
    return IV0 + Header(FLAG_WHOAREYOU, REQUEST_NONCE, whoareyou_authdata(ID_NONCE, enr_seq)).encode()


def test_node_ids_of_the_vector_keys() -> None:
    assert crypto.node_id_of(crypto.public_key(NODE_A_KEY)) == SRC_ID
    assert crypto.node_id_of(crypto.public_key(NODE_B_KEY)) == DEST_ID


def test_ping_message_packet() -> None:
    p = decode_packet(DEST_ID, PING_PACKET)
    assert p.header.flag == FLAG_MESSAGE and p.header.nonce == NONCE and p.header.authdata == SRC_ID
    pt = crypto.aes_gcm_decrypt(bytes(16), p.header.nonce, p.message, p.ad)
    assert messages.decode(pt) == messages.Ping(h("00000001"), 2)
    again = encode_packet(DEST_ID, Header(FLAG_MESSAGE, NONCE, SRC_ID), bytes(16),
                          messages.encode(messages.Ping(h("00000001"), 2)), masking_iv=IV0)
    assert again == PING_PACKET


def test_whoareyou_packet() -> None:
    p = decode_packet(DEST_ID, WHOAREYOU_PACKET)
    assert p.header.flag == FLAG_WHOAREYOU and p.header.nonce == REQUEST_NONCE
    assert p.header.authdata == whoareyou_authdata(ID_NONCE, 0) and p.message == b""
    assert p.masking_iv + p.header_bytes == challenge_data(0)
    assert encode_packet(DEST_ID, Header(FLAG_WHOAREYOU, REQUEST_NONCE, whoareyou_authdata(ID_NONCE, 0)), None, b"",
                         masking_iv=IV0) == WHOAREYOU_PACKET


def _check_handshake(packet: bytes, enr_seq: int, read_key: bytes) -> HandshakeAuthdata:
    p = decode_packet(DEST_ID, packet)
    assert p.header.flag == FLAG_HANDSHAKE and p.header.nonce == NONCE
    auth = HandshakeAuthdata.decode(p.header.authdata)
    assert auth.src_id == SRC_ID and auth.ephemeral_pub == EPH_PUB
    cd = challenge_data(enr_seq)
    # Node B's side: verify A's id signature, derive the keys from its static key, decrypt.
    assert crypto.id_verify(crypto.public_key(NODE_A_KEY), auth.id_signature, cd, auth.ephemeral_pub, DEST_ID)
    initiator_key, _ = crypto.derive_keys(crypto.ecdh(auth.ephemeral_pub, NODE_B_KEY), SRC_ID, DEST_ID, cd)
    assert initiator_key == read_key
    assert messages.decode(crypto.aes_gcm_decrypt(initiator_key, p.header.nonce, p.message, p.ad)) == \
        messages.Ping(h("00000001"), 1)
    # Node A's side: the same packet from the same inputs.
    assert crypto.ecdh(crypto.public_key(NODE_B_KEY), EPH_KEY) == crypto.ecdh(EPH_PUB, NODE_B_KEY)
    sig = crypto.id_sign(NODE_A_KEY, cd, EPH_PUB, DEST_ID)
    authdata = HandshakeAuthdata(SRC_ID, sig, EPH_PUB, auth.record).encode()
    again = encode_packet(DEST_ID, Header(FLAG_HANDSHAKE, NONCE, authdata), initiator_key,
                          messages.encode(messages.Ping(h("00000001"), 1)), masking_iv=IV0)
    assert again == packet
    return auth


def test_ping_handshake_packet() -> None:
    auth = _check_handshake(HANDSHAKE_PACKET, 1, h("4f9fac6de7567d1e3b1241dffe90f662"))
    assert auth.record == b""


def test_ping_handshake_packet_with_enr() -> None:
    auth = _check_handshake(HANDSHAKE_ENR_PACKET, 0, h("53b1c075f41876423154e157470c2f48"))
    record = ENR.from_rlp(auth.record)
    assert record.node_id == SRC_ID and record.public_key == crypto.public_key(NODE_A_KEY)


def test_ecdh_vector() -> None:
    assert crypto.ecdh(h("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231"),
                       h("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736")) == \
        h("033b11a2a1f214567e1537ce5e509ffd9b21373247f2a3ff6841f4976f53165e7e")


def test_key_derivation_vector() -> None:
    eph = h("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736")
    dest_pub = h("0317931e6e0840220642f230037d285d122bc59063221ef3226b1f403ddc69ca91")
    keys = crypto.derive_keys(crypto.ecdh(dest_pub, eph), SRC_ID, DEST_ID, challenge_data(0))
    assert keys == (h("dccc82d81bd610f4f76d3ebe97a40571"), h("ac74bb8773749920b0d3a8881c173ec5"))


def test_id_nonce_signing_vector() -> None:
    static = h("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736")
    eph_pub = h("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231")
    expected = h("94852a1e2318c4e5e9d422c98eaf19d1d90d876b29cd06ca7cb7546d0fff7b48"
                 "4fe86c09a064fe72bdbef73ba8e9c34df0cd2b53e9d65528c2c7f336d5dfc6e6")
    assert crypto.id_sign(static, challenge_data(0), eph_pub, DEST_ID) == expected
    assert crypto.id_verify(crypto.public_key(static), expected, challenge_data(0), eph_pub, DEST_ID)
    assert not crypto.id_verify(crypto.public_key(static), expected, challenge_data(1), eph_pub, DEST_ID)


def test_aes_gcm_vector() -> None:
    ct = crypto.aes_gcm_encrypt(h("9f2d77db7004bf8a1a85107ac686990b"), h("27b5af763c446acd2749fe8e"), h("01c20101"),
                                h("93a7400fa0d6a694ebc24d5cf570f65d04215b6ac00757875e3f3a5f42107903"))
    assert ct == h("a5d12a2d94b8ccb3ba55558229867dc13bfa3648")
