"""Math helpers of the spec (0_beacon-chain.md v0.8.2, "Helper functions / Math")."""
from __future__ import annotations

ENDIANNESS = "little"


# spec v0.8.2: Math / integer_squareroot
def integer_squareroot(n: int) -> int:
    """Return the largest integer ``x`` such that ``x**2 <= n`` (Newton's method, as the spec)."""
    x = n
    y = (x + 1) // 2
    while y < x:
        x = y
        y = (x + n // x) // 2
    return x


# spec v0.8.2: Math / xor
def xor(bytes_1: bytes, bytes_2: bytes) -> bytes:
    """Return the exclusive-or of two 32-byte strings."""
    # One big-int XOR instead of a per-byte generator: same result, far fewer Python steps.
    value = int.from_bytes(bytes_1, "big") ^ int.from_bytes(bytes_2, "big")
    return value.to_bytes(32, "big")


# spec v0.8.2: Math / int_to_bytes
def int_to_bytes(n: int, length: int) -> bytes:
    """Return the ``length``-byte serialization of ``n``."""
    return n.to_bytes(length, ENDIANNESS)


# spec v0.8.2: Math / bytes_to_int
def bytes_to_int(data: bytes) -> int:
    """Return the integer deserialization of ``data``."""
    return int.from_bytes(data, ENDIANNESS)
