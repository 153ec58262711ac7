"""Basic types (uintN, boolean) and byte vectors (BytesN), whose values are plain Python objects."""
from __future__ import annotations

import struct
from hashlib import sha256
from typing import Any

from beacon.ssz.base import DecodeError, SSZType
from beacon.ssz.merkle import merkleize, pack_bytes


class BasicType(SSZType):
    """uintN and boolean: packed several to a chunk inside lists and vectors."""

    size: int

    def is_fixed_size(self) -> bool:
        return True

    def fixed_size(self) -> int:
        return self.size

    def pack(self, values: list[Any]) -> bytes:
        """Serialize many values at once (the leaves of a basic list)."""
        raise NotImplementedError

    def unpack(self, data: bytes) -> list[Any]:
        raise NotImplementedError

    def hash_tree_root(self, value: Any) -> bytes:
        return self.serialize(value).ljust(32, b"\x00")


class UInt(BasicType):
    def __init__(self, bits: int) -> None:
        assert bits in (8, 16, 32, 64, 128, 256)
        self.bits = bits
        self.size = bits // 8
        self.name = f"uint{bits}"
        self.limit = 1 << bits

    def default(self) -> int:
        return 0

    def coerce(self, value: Any) -> int:
        if type(value) is int:
            return value
        if isinstance(value, int):  # bool, IntEnum and the like
            return int(value)
        raise TypeError(f"{self.name} needs an int, got {type(value).__name__}")

    def serialize(self, value: int) -> bytes:
        try:
            return value.to_bytes(self.size, "little")
        except OverflowError:
            raise ValueError(f"{value} does not fit in {self.name}") from None

    def pack(self, values: list[int]) -> bytes:
        if self.bits == 64:
            try:
                return struct.pack(f"<{len(values)}Q", *values)
            except struct.error:
                pass  # fall through: serialize() names the offending value
        return b"".join(self.serialize(v) for v in values)

    def unpack(self, data: bytes) -> list[int]:
        size = self.size
        if size == 8:
            return list(struct.unpack(f"<{len(data) // 8}Q", data))
        return [int.from_bytes(data[i:i + size], "little") for i in range(0, len(data), size)]

    def deserialize(self, data: bytes) -> int:
        if len(data) != self.size:
            raise DecodeError(f"{self.name}: expected {self.size} bytes, got {len(data)}")
        return int.from_bytes(data, "little")

    def to_obj(self, value: int) -> int:
        return value

    def from_obj(self, obj: Any) -> int:
        if isinstance(obj, float):  # YAML's 1.5, .inf and .nan: int() would truncate or overflow
            raise ValueError(f"{self.name} needs an integer, got {obj!r}")
        value = int(obj, 0) if isinstance(obj, str) else int(obj)
        if not 0 <= value < self.limit:
            raise ValueError(f"{value} out of range for {self.name}")
        return value


class Boolean(BasicType):
    name = "boolean"
    size = 1

    def default(self) -> bool:
        return False

    def coerce(self, value: Any) -> bool:
        if value is True or value is False:
            return value
        if value in (0, 1):
            return bool(value)
        raise TypeError(f"boolean needs True/False, got {value!r}")

    def serialize(self, value: bool) -> bytes:
        return b"\x01" if value else b"\x00"

    def pack(self, values: list[bool]) -> bytes:
        return bytes(1 if v else 0 for v in values)

    def unpack(self, data: bytes) -> list[bool]:
        out = []
        for b in data:
            if b > 1:
                raise DecodeError(f"boolean: invalid byte 0x{b:02x}")
            out.append(b == 1)
        return out

    def deserialize(self, data: bytes) -> bool:
        if len(data) != 1:
            raise DecodeError(f"boolean: expected 1 byte, got {len(data)}")
        if data[0] > 1:
            raise DecodeError(f"boolean: invalid byte 0x{data[0]:02x}")
        return data[0] == 1

    def to_obj(self, value: bool) -> bool:
        return value

    def from_obj(self, obj: Any) -> bool:
        return self.coerce(obj)


class ByteVector(SSZType):
    """BytesN = Vector[byte, N]: not basic, but its value is immutable `bytes`."""

    def __init__(self, length: int) -> None:
        assert length > 0
        self.length = length
        self.name = f"Bytes{length}"
        self._zero = b"\x00" * length

    def is_fixed_size(self) -> bool:
        return True

    def fixed_size(self) -> int:
        return self.length

    def default(self) -> bytes:
        return self._zero

    def coerce(self, value: Any) -> bytes:
        if type(value) is not bytes:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"{self.name} needs bytes, got {type(value).__name__}")
            value = bytes(value)
        if len(value) != self.length:
            raise ValueError(f"{self.name} needs {self.length} bytes, got {len(value)}")
        return value

    def serialize(self, value: bytes) -> bytes:
        return value

    def deserialize(self, data: bytes) -> bytes:
        if len(data) != self.length:
            raise DecodeError(f"{self.name}: expected {self.length} bytes, got {len(data)}")
        return bytes(data)

    def hash_tree_root(self, value: bytes) -> bytes:
        if self.length == 32:
            return value
        if self.length < 32:
            return value.ljust(32, b"\x00")
        if self.length <= 64:
            # Two chunks, one hash (pubkeys: 16,384 of them per compact-committees root).
            return sha256(value.ljust(64, b"\x00")).digest()
        return merkleize(pack_bytes(value))

    def to_obj(self, value: bytes) -> str:
        return "0x" + value.hex()

    def from_obj(self, obj: Any) -> bytes:
        if isinstance(obj, (bytes, bytearray)):
            return self.coerce(obj)
        text = str(obj)
        return self.coerce(bytes.fromhex(text[2:] if text.startswith("0x") else text))


uint8 = UInt(8)
uint16 = UInt(16)
uint32 = UInt(32)
uint64 = UInt(64)
uint128 = UInt(128)
uint256 = UInt(256)
boolean = Boolean()
byte = uint8
Bytes4 = ByteVector(4)
Bytes32 = ByteVector(32)
Bytes48 = ByteVector(48)
Bytes96 = ByteVector(96)
