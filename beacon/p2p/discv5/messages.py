"""discv5 v5.1 messages: message-type || rlp(message-data)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Union

import rlp
from rlp.exceptions import DecodingError

from beacon.p2p.discv5.enr import ENR, ENRError

PING, PONG, FINDNODE, NODES, TALKREQ, TALKRESP = 1, 2, 3, 4, 5, 6
MAX_REQUEST_ID = 8
MAX_DISTANCES = 16  # a FINDNODE asking for more is refused
MAX_NODES_TOTAL = 16  # NODES messages per FINDNODE answer we accept


class MessageError(ValueError):
    """A decrypted message that does not decode."""


@dataclass(frozen=True)
class Ping:
    request_id: bytes
    enr_seq: int


@dataclass(frozen=True)
class Pong:
    request_id: bytes
    enr_seq: int
    ip: str
    port: int


@dataclass(frozen=True)
class FindNode:
    request_id: bytes
    distances: tuple[int, ...]


@dataclass(frozen=True)
class Nodes:
    request_id: bytes
    total: int
    records: tuple[Any, ...]  # ENR, or ENRError for a record that did not check out


@dataclass(frozen=True)
class TalkReq:
    request_id: bytes
    protocol: bytes
    request: bytes


@dataclass(frozen=True)
class TalkResp:
    request_id: bytes
    response: bytes


Message = Union[Ping, Pong, FindNode, Nodes, TalkReq, TalkResp]
RESPONSES = (Pong, Nodes, TalkResp)


def _uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode(msg: Message) -> bytes:
    if isinstance(msg, Ping):
        return bytes([PING]) + rlp.encode([msg.request_id, _uint(msg.enr_seq)])
    if isinstance(msg, Pong):
        return bytes([PONG]) + rlp.encode([msg.request_id, _uint(msg.enr_seq), ipaddress.ip_address(msg.ip).packed,
                                           _uint(msg.port)])
    if isinstance(msg, FindNode):
        return bytes([FINDNODE]) + rlp.encode([msg.request_id, [_uint(d) for d in msg.distances]])
    if isinstance(msg, Nodes):
        return bytes([NODES]) + rlp.encode([msg.request_id, _uint(msg.total),
                                            [rlp.decode(r.raw) for r in msg.records]])
    if isinstance(msg, TalkReq):
        return bytes([TALKREQ]) + rlp.encode([msg.request_id, msg.protocol, msg.request])
    if isinstance(msg, TalkResp):
        return bytes([TALKRESP]) + rlp.encode([msg.request_id, msg.response])
    raise TypeError(f"not a discv5 message: {type(msg).__name__}")


def _int(raw: Any, what: str, bits: int = 64) -> int:
    if not isinstance(raw, bytes) or raw[:1] == b"\0" or len(raw) * 8 > bits:
        raise MessageError(f"{what} is not a canonical {bits}-bit integer")
    return int.from_bytes(raw, "big")


def _bytes(raw: Any, what: str) -> bytes:
    if not isinstance(raw, bytes):
        raise MessageError(f"{what} must be a byte string")
    return raw


def decode(data: bytes) -> Message:
    if not data:
        raise MessageError("empty message")
    kind = data[0]
    try:
        items = rlp.decode(data[1:], strict=True)
    except DecodingError as e:
        raise MessageError(f"message type {kind}: bad RLP: {e}") from None
    if not isinstance(items, list) or not items:
        raise MessageError(f"message type {kind}: message-data must be a non-empty list")
    req_id = _bytes(items[0], "request-id")
    if len(req_id) > MAX_REQUEST_ID:
        raise MessageError(f"request-id of {len(req_id)} bytes is over 8")
    n = len(items)
    if kind == PING and n == 2:
        return Ping(req_id, _int(items[1], "enr-seq"))
    if kind == PONG and n == 4:
        ip = _bytes(items[2], "recipient-ip")
        if len(ip) not in (4, 16):
            raise MessageError("recipient-ip must be 4 or 16 bytes")
        return Pong(req_id, _int(items[1], "enr-seq"), str(ipaddress.ip_address(ip)),
                    _int(items[3], "recipient-port", 16))
    if kind == FINDNODE and n == 2:
        if not isinstance(items[1], list) or len(items[1]) > MAX_DISTANCES:
            raise MessageError(f"FINDNODE distances must be a list of at most {MAX_DISTANCES}")
        distances = tuple(_int(d, "distance", 16) for d in items[1])
        if any(d > 256 for d in distances):
            raise MessageError("FINDNODE distance over 256")
        return FindNode(req_id, distances)
    if kind == NODES and n == 3:
        if not isinstance(items[2], list):
            raise MessageError("NODES records must be a list")
        records: list[Any] = []
        for item in items[2]:
            try:
                records.append(ENR.from_items(item))
            except ENRError as e:
                records.append(e)  # the caller logs and drops it; the rest of the message stands
        return Nodes(req_id, _int(items[1], "total", 8), tuple(records))
    if kind == TALKREQ and n == 3:
        return TalkReq(req_id, _bytes(items[1], "protocol"), _bytes(items[2], "request"))
    if kind == TALKRESP and n == 2:
        return TalkResp(req_id, _bytes(items[1], "response"))
    raise MessageError(f"unknown message type {kind} or wrong number of fields ({n})")
