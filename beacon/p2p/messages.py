"""Encodings of the req/resp messages (eth2.0-specs v0.8.3, p2p-interface.md).

The p2p layer works with small immutable dataclasses; the bytes come from the SSZ types
in `wire_types` (beacon.ssz). `DecodeError` is beacon.ssz's, so the chain and the wire
share one decode-error family.

Block lists stay opaque here: p2p never decodes a BeaconBlock, so an SSZ
List[BeaconBlock] is framed from already-encoded items (a table of 4-byte little-endian
offsets, one per item, measured from the start of the list, then the items -
simple-serialize.md, variable-size elements) and split back into item bytes for the
chain to decode.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Sequence

from beacon.ssz import DecodeError

from .wire_types import BeaconBlocksRequestSSZ, BlockRootsSSZ, GoodbyeReasonSSZ, HelloMessageSSZ

BYTES_PER_LENGTH_OFFSET = 4
# An SSZ container whose one field is variable-size encodes as this offset, then the
# field. v0.8.3 says single-field messages are sent as the bare field; some 2019 peers
# (Trinity) sent the container. We read both and remember which a peer speaks.
SINGLE_FIELD_CONTAINER_PREFIX = struct.pack("<I", BYTES_PER_LENGTH_OFFSET)

__all__ = [
    "DecodeError", "HelloMessage", "GoodbyeReason", "BeaconBlocksRequest", "encode_goodbye", "decode_goodbye",
    "encode_recent_beacon_blocks_request", "decode_root_list", "encode_block_list",
    "decode_block_list", "encode_error_message", "decode_error_message", "wrap_single_field",
    "decode_block_payload",
]


@dataclass(frozen=True)
class HelloMessage:
    fork_version: bytes  # Bytes4
    finalized_root: bytes  # Bytes32
    finalized_epoch: int  # uint64
    head_root: bytes  # Bytes32
    head_slot: int  # uint64

    SSZ_SIZE = 4 + 32 + 8 + 32 + 8  # 84

    def encode(self) -> bytes:
        _check_len("fork_version", self.fork_version, 4)
        _check_len("finalized_root", self.finalized_root, 32)
        _check_len("head_root", self.head_root, 32)
        return HelloMessageSSZ(
            fork_version=self.fork_version,
            finalized_root=self.finalized_root,
            finalized_epoch=self.finalized_epoch,
            head_root=self.head_root,
            head_slot=self.head_slot,
        ).serialize()

    @classmethod
    def decode(cls, data: bytes) -> "HelloMessage":
        if len(data) != cls.SSZ_SIZE:  # checked first so the error names the size
            raise DecodeError(f"HelloMessage must be {cls.SSZ_SIZE} bytes, got {len(data)}")
        v = HelloMessageSSZ.deserialize(data)
        return cls(bytes(v.fork_version), bytes(v.finalized_root), int(v.finalized_epoch), bytes(v.head_root), int(v.head_slot))


class GoodbyeReason:
    """Goodbye reason codes (spec: 1..3 defined, 4..127 reserved, 128+ free)."""

    CLIENT_SHUTDOWN = 1
    IRRELEVANT_NETWORK = 2
    FAULT_OR_ERROR = 3


GOODBYE_SSZ_SIZE = 8


def encode_goodbye(reason: int) -> bytes:
    return GoodbyeReasonSSZ.serialize(reason)


def decode_goodbye(data: bytes) -> int:
    if len(data) != GOODBYE_SSZ_SIZE:
        raise DecodeError(f"Goodbye must be {GOODBYE_SSZ_SIZE} bytes, got {len(data)}")
    return int(GoodbyeReasonSSZ.deserialize(data))


@dataclass(frozen=True)
class BeaconBlocksRequest:
    head_block_root: bytes  # Bytes32
    start_slot: int  # uint64
    count: int  # uint64
    step: int  # uint64

    SSZ_SIZE = 32 + 8 + 8 + 8  # 56

    def encode(self) -> bytes:
        _check_len("head_block_root", self.head_block_root, 32)
        return BeaconBlocksRequestSSZ(
            head_block_root=self.head_block_root, start_slot=self.start_slot, count=self.count, step=self.step
        ).serialize()

    @classmethod
    def decode(cls, data: bytes) -> "BeaconBlocksRequest":
        if len(data) != cls.SSZ_SIZE:
            raise DecodeError(f"BeaconBlocksRequest must be {cls.SSZ_SIZE} bytes, got {len(data)}")
        v = BeaconBlocksRequestSSZ.deserialize(data)
        return cls(bytes(v.head_block_root), int(v.start_slot), int(v.count), int(v.step))


def encode_recent_beacon_blocks_request(roots: Sequence[bytes]) -> bytes:
    """`RecentBeaconBlocksRequest` is the containerless List[Bytes32]: roots back to back."""
    for r in roots:
        _check_len("block root", r, 32)
    return BlockRootsSSZ.serialize(list(roots))


def decode_root_list(data: bytes, max_count: int) -> tuple[list[bytes], bool]:
    """The roots of a by-root request, and whether they came wrapped in a single-field
    container. A bare list is a multiple of 32 bytes, a wrapped one 4 more."""
    wrapped = len(data) % 32 == BYTES_PER_LENGTH_OFFSET and data[:4] == SINGLE_FIELD_CONTAINER_PREFIX
    body = data[BYTES_PER_LENGTH_OFFSET:] if wrapped else data
    if len(body) > 32 * max_count:  # checked before decoding: names the real problem
        raise DecodeError(f"{len(body) // 32} roots requested, limit is {max_count}")
    roots = [bytes(r) for r in BlockRootsSSZ.deserialize(body)]
    return roots, wrapped


def wrap_single_field(payload: bytes) -> bytes:
    """The single-field-container form of a variable-size payload (see the prefix above)."""
    return SINGLE_FIELD_CONTAINER_PREFIX + payload


def encode_block_list(blocks: Sequence[bytes]) -> bytes:
    """The `BeaconBlocks`/`RecentBeaconBlocks` response: SSZ List[BeaconBlock].

    BeaconBlock is variable-size (its body holds lists), so the list is an offset table
    then the items. The items are already-encoded blocks from the chain.
    """
    offsets = []
    position = BYTES_PER_LENGTH_OFFSET * len(blocks)
    for b in blocks:
        offsets.append(struct.pack("<I", position))
        position += len(b)
    if position >= 2**32:
        raise ValueError("block list too large for 4-byte SSZ offsets")
    return b"".join(offsets) + b"".join(blocks)


def decode_block_list(data: bytes, max_count: int) -> list[bytes]:
    """Split an SSZ List of variable-size items into the items' bytes (not decoded).

    Validates the offset table as the SSZ spec requires: first offset = table size,
    offsets non-decreasing and within the data. An empty list is zero bytes.
    """
    if not data:
        return []
    if len(data) < BYTES_PER_LENGTH_OFFSET:
        raise DecodeError("list shorter than one offset")
    first = struct.unpack_from("<I", data, 0)[0]
    if first % BYTES_PER_LENGTH_OFFSET or first == 0 or first > len(data):
        raise DecodeError(f"bad first offset {first} for {len(data)} bytes")
    count = first // BYTES_PER_LENGTH_OFFSET
    if count > max_count:
        raise DecodeError(f"{count} items, limit is {max_count}")
    offsets = [struct.unpack_from("<I", data, i * BYTES_PER_LENGTH_OFFSET)[0] for i in range(count)]
    offsets.append(len(data))
    items = []
    for start, end in zip(offsets, offsets[1:]):
        if end < start or end > len(data):
            raise DecodeError(f"offsets out of order or out of range: {start}..{end}")
        items.append(data[start:end])
    return items


def encode_error_message(message: str, max_bytes: int = 256) -> bytes:
    """ErrorMessage: the UTF-8 bytes alone (the spec says it is not an SSZ container).

    Truncated to `max_bytes` on a character boundary so we never send garbage UTF-8.
    """
    raw = message.encode("utf-8")
    if len(raw) > max_bytes:
        raw = raw[:max_bytes].decode("utf-8", errors="ignore").encode("utf-8")
    return raw


def decode_error_message(data: bytes) -> str:
    """The text of an error response: bare UTF-8 (v0.8.3), or an SSZ ErrorMessage
    container (an offset of 4, then the text) as some 2019 peers sent it."""
    if data[:4] == SINGLE_FIELD_CONTAINER_PREFIX:
        data = data[4:]
    # A peer's error text is only ever logged: replace bad UTF-8 rather than fail.
    return data.decode("utf-8", errors="replace")


def decode_block_payload(data: bytes, is_block: Callable[[bytes], bool], max_count: int) -> tuple[list[bytes], bool]:
    """The blocks in one success payload of a block request, however a 2019 peer framed
    it, and whether it was a wrapped list:

    * one BeaconBlock (a v0.8.4 response_chunk);
    * an SSZ List[BeaconBlock], bare (v0.8.3; zero bytes when empty);
    * the same list inside a single-field container (`BeaconBlocksResponse{blocks}`).

    `is_block` tells whether bytes have a BeaconBlock's layout (the chain knows it). The
    forms cannot be confused: a list's offset table never has a block's layout, and a
    block never splits into items that all have one. DecodeError if no form fits.
    """
    if not data:
        return [], False
    if is_block(data):
        return [data], False
    errors = []
    for wrapped in (False, True):
        if wrapped:
            if data[:4] != SINGLE_FIELD_CONTAINER_PREFIX:
                break
            body = data[BYTES_PER_LENGTH_OFFSET:]
        else:
            body = data
        try:
            items = decode_block_list(body, max_count)
        except DecodeError as e:
            errors.append(str(e))
            continue
        if all(is_block(item) for item in items):
            return items, wrapped
        errors.append("an item is not a BeaconBlock")
    raise DecodeError(f"neither a block nor a block list ({'; '.join(errors)}); {len(data)} bytes "
                      f"beginning {data[:20].hex()}")


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
