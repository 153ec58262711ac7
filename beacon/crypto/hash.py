"""The spec's `hash`: SHA-256."""
from hashlib import sha256


def hash(data: bytes) -> bytes:  # noqa: A001 - the spec's name
    return sha256(data).digest()


ZERO_HASH = b"\x00" * 32
