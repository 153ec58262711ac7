"""discv5 v5.1 packets: masked header, the three kinds of authdata, message encryption.

    packet        = masking-iv || aesctr(dest-id[:16], masking-iv, header) || message
    header        = "discv5" || 0x0001 || flag || nonce(12) || authdata-size(2) || authdata
    message       = aesgcm(key, nonce, message-type || rlp(message-data), masking-iv || header)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from beacon.p2p.discv5 import crypto

PROTOCOL_ID = b"discv5"
VERSION = b"\x00\x01"
FLAG_MESSAGE = 0
FLAG_WHOAREYOU = 1
FLAG_HANDSHAKE = 2
STATIC_HEADER_SIZE = 6 + 2 + 1 + 12 + 2
MIN_PACKET_SIZE = 63
MAX_PACKET_SIZE = 1280
IV_SIZE = 16
NONCE_SIZE = 12
WHOAREYOU_AUTHDATA_SIZE = 24
HANDSHAKE_HEAD_SIZE = 34


class PacketError(ValueError):
    """A datagram that is not a discv5 v5.1 packet for us."""


@dataclass(frozen=True)
class Header:
    flag: int
    nonce: bytes
    authdata: bytes

    def encode(self) -> bytes:
        return (PROTOCOL_ID + VERSION + bytes([self.flag]) + self.nonce + len(self.authdata).to_bytes(2, "big")
                + self.authdata)


@dataclass(frozen=True)
class Packet:
    masking_iv: bytes
    header: Header
    header_bytes: bytes  # unmasked, for message-ad and challenge-data
    message: bytes  # still encrypted

    @property
    def ad(self) -> bytes:
        return self.masking_iv + self.header_bytes


@dataclass(frozen=True)
class HandshakeAuthdata:
    src_id: bytes
    id_signature: bytes
    ephemeral_pub: bytes
    record: bytes  # RLP of the ENR, or b""

    def encode(self) -> bytes:
        return (self.src_id + bytes([len(self.id_signature), len(self.ephemeral_pub)]) + self.id_signature
                + self.ephemeral_pub + self.record)

    @classmethod
    def decode(cls, authdata: bytes) -> "HandshakeAuthdata":
        if len(authdata) < HANDSHAKE_HEAD_SIZE:
            raise PacketError(f"handshake authdata of {len(authdata)} bytes is too short")
        sig_size, key_size = authdata[32], authdata[33]
        if sig_size != 64 or key_size != 33:
            raise PacketError(f"handshake sizes {sig_size}/{key_size} are not those of the v4 scheme (64/33)")
        end = HANDSHAKE_HEAD_SIZE + sig_size + key_size
        if len(authdata) < end:
            raise PacketError("handshake authdata is truncated")
        return cls(authdata[:32], authdata[34:34 + sig_size], authdata[34 + sig_size:end], authdata[end:])


def whoareyou_authdata(id_nonce: bytes, enr_seq: int) -> bytes:
    return id_nonce + enr_seq.to_bytes(8, "big")


def random_iv() -> bytes:
    return os.urandom(IV_SIZE)


def random_nonce() -> bytes:
    return os.urandom(NONCE_SIZE)


def encode_packet(dest_id: bytes, header: Header, key: bytes | None, plaintext: bytes,
                  masking_iv: bytes | None = None) -> bytes:
    """Mask the header for `dest_id` and (unless WHOAREYOU, key None) encrypt the message."""
    iv = masking_iv if masking_iv is not None else random_iv()
    header_bytes = header.encode()
    message = b"" if key is None else crypto.aes_gcm_encrypt(key, header.nonce, plaintext, iv + header_bytes)
    packet = iv + crypto.aes_ctr(dest_id[:16], iv, header_bytes) + message
    if len(packet) > MAX_PACKET_SIZE:
        raise PacketError(f"packet of {len(packet)} bytes is over the {MAX_PACKET_SIZE}-byte limit")
    return packet


def decode_packet(local_id: bytes, data: bytes) -> Packet:
    """Unmask a datagram addressed to `local_id`; PacketError if it is not one."""
    if not MIN_PACKET_SIZE <= len(data) <= MAX_PACKET_SIZE:
        raise PacketError(f"datagram of {len(data)} bytes is outside {MIN_PACKET_SIZE}..{MAX_PACKET_SIZE}")
    iv = data[:IV_SIZE]
    # CTR is a stream: unmasking a prefix gives the static header without touching the rest.
    rest = crypto.aes_ctr(local_id[:16], iv, data[IV_SIZE:])
    static = rest[:STATIC_HEADER_SIZE]
    if static[:6] != PROTOCOL_ID:
        raise PacketError("not a discv5 packet (protocol id)")
    if static[6:8] != VERSION:
        raise PacketError(f"discv5 version 0x{static[6:8].hex()} is not v5.1 (0x0001)")
    flag = static[8]
    nonce = static[9:21]
    size = int.from_bytes(static[21:23], "big")
    end = STATIC_HEADER_SIZE + size
    if end > len(rest):
        raise PacketError("authdata runs past the end of the packet")
    authdata = rest[STATIC_HEADER_SIZE:end]
    if flag == FLAG_MESSAGE and size != 32:
        raise PacketError(f"message authdata must be 32 bytes, got {size}")
    if flag == FLAG_WHOAREYOU and (size != WHOAREYOU_AUTHDATA_SIZE or end != len(rest)):
        raise PacketError("malformed WHOAREYOU")
    if flag not in (FLAG_MESSAGE, FLAG_WHOAREYOU, FLAG_HANDSHAKE):
        raise PacketError(f"unknown packet flag {flag}")
    return Packet(iv, Header(flag, nonce, authdata), rest[:end], data[IV_SIZE + end:])
