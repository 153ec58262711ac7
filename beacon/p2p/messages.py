"""SSZ encodings of the req/resp messages (eth2.0-specs v0.8.3, p2p-interface.md).

Hand-written with `struct` for now: every request here is fixed-size, and the only
variable-size shapes are two top-level lists. When beacon/ssz and beacon/types land,
this is the one module to swap: keep the function names and the `DecodeError` contract.

SSZ rules used (simple-serialize.md): uintN little-endian; BytesN raw; a container of
fixed-size fields is the concatenation of its fields; a list of fixed-size items is the
concatenation of its items; a list of variable-size items is a table of 4-byte
little-endian offsets (one per item, measured from the start of the list) followed by
the items.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

BYTES_PER_LENGTH_OFFSET = 4


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the expected message."""


@dataclass(frozen=True)
class HelloMessage:
    fork_version: bytes  # Bytes4
    finalized_root: bytes  # Bytes32
    finalized_epoch: int  # uint64
    head_root: bytes  # Bytes32
    head_slot: int  # uint64

    SSZ_SIZE = 4 + 32 + 8 + 32 + 8  # 84
    _FORMAT = struct.Struct("<4s32sQ32sQ")

    def encode(self) -> bytes:
        _check_len("fork_version", self.fork_version, 4)
        _check_len("finalized_root", self.finalized_root, 32)
        _check_len("head_root", self.head_root, 32)
        return self._FORMAT.pack(
            self.fork_version, self.finalized_root, self.finalized_epoch, self.head_root, self.head_slot
        )

    @classmethod
    def decode(cls, data: bytes) -> "HelloMessage":
        if len(data) != cls.SSZ_SIZE:
            raise DecodeError(f"HelloMessage must be {cls.SSZ_SIZE} bytes, got {len(data)}")
        fork_version, finalized_root, finalized_epoch, head_root, head_slot = cls._FORMAT.unpack(data)
        return cls(fork_version, finalized_root, finalized_epoch, head_root, head_slot)


class GoodbyeReason:
    """Goodbye reason codes (spec: 1..3 defined, 4..127 reserved, 128+ free)."""

    CLIENT_SHUTDOWN = 1
    IRRELEVANT_NETWORK = 2
    FAULT_OR_ERROR = 3


GOODBYE_SSZ_SIZE = 8


def encode_goodbye(reason: int) -> bytes:
    return struct.pack("<Q", reason)


def decode_goodbye(data: bytes) -> int:
    if len(data) != GOODBYE_SSZ_SIZE:
        raise DecodeError(f"Goodbye must be {GOODBYE_SSZ_SIZE} bytes, got {len(data)}")
    return int(struct.unpack("<Q", data)[0])


@dataclass(frozen=True)
class BeaconBlocksRequest:
    head_block_root: bytes  # Bytes32
    start_slot: int  # uint64
    count: int  # uint64
    step: int  # uint64

    SSZ_SIZE = 32 + 8 + 8 + 8  # 56
    _FORMAT = struct.Struct("<32sQQQ")

    def encode(self) -> bytes:
        _check_len("head_block_root", self.head_block_root, 32)
        return self._FORMAT.pack(self.head_block_root, self.start_slot, self.count, self.step)

    @classmethod
    def decode(cls, data: bytes) -> "BeaconBlocksRequest":
        if len(data) != cls.SSZ_SIZE:
            raise DecodeError(f"BeaconBlocksRequest must be {cls.SSZ_SIZE} bytes, got {len(data)}")
        return cls(*cls._FORMAT.unpack(data))


def encode_recent_beacon_blocks_request(roots: Sequence[bytes]) -> bytes:
    """`RecentBeaconBlocksRequest` is the containerless List[Bytes32]: roots back to back."""
    for r in roots:
        _check_len("block root", r, 32)
    return b"".join(roots)


def decode_recent_beacon_blocks_request(data: bytes, max_count: int) -> list[bytes]:
    if len(data) % 32:
        raise DecodeError(f"List[Bytes32] length {len(data)} is not a multiple of 32")
    if len(data) // 32 > max_count:
        raise DecodeError(f"{len(data) // 32} roots requested, limit is {max_count}")
    return [data[i : i + 32] for i in range(0, len(data), 32)]


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
    # A peer's error text is only ever logged: replace bad UTF-8 rather than fail.
    return data.decode("utf-8", errors="replace")


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
