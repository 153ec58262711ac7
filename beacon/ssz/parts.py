"""The offset layout shared by containers and lists of variable-size elements."""
from __future__ import annotations

from beacon.ssz.base import BYTES_PER_LENGTH_OFFSET, DecodeError


def encode_parts(parts: list[tuple[bool, bytes]]) -> bytes:
    """parts: (is_fixed, serialized). Fixed parts go inline, variable ones behind offsets."""
    fixed_len = sum(len(b) if fixed else BYTES_PER_LENGTH_OFFSET for fixed, b in parts)
    head: list[bytes] = []
    tail: list[bytes] = []
    offset = fixed_len
    for fixed, b in parts:
        if fixed:
            head.append(b)
        else:
            if offset >= 1 << 32:
                raise ValueError("SSZ object too large for 4-byte offsets")
            head.append(offset.to_bytes(BYTES_PER_LENGTH_OFFSET, "little"))
            tail.append(b)
            offset += len(b)
    return b"".join(head + tail)


def decode_offsets(data: bytes, sizes: list[int | None], name: str) -> list[tuple[int, int]]:
    """Spans (start, end) of each part; sizes[i] is a fixed size or None for an offset."""
    n = len(data)
    spans: list[list[int]] = []
    var_idx: list[int] = []
    pos = 0
    for size in sizes:
        if size is None:
            if pos + BYTES_PER_LENGTH_OFFSET > n:
                raise DecodeError(f"{name}: input ends inside the fixed part ({n} bytes)")
            off = int.from_bytes(data[pos:pos + BYTES_PER_LENGTH_OFFSET], "little")
            var_idx.append(len(spans))
            spans.append([off, 0])
            pos += BYTES_PER_LENGTH_OFFSET
        else:
            if pos + size > n:
                raise DecodeError(f"{name}: input ends inside the fixed part ({n} bytes)")
            spans.append([pos, pos + size])
            pos += size
    if not var_idx:
        if pos != n:
            raise DecodeError(f"{name}: {n - pos} extra bytes after the end")
        return [(a, b) for a, b in spans]
    first = spans[var_idx[0]][0]
    if first != pos:
        raise DecodeError(f"{name}: first offset {first} does not point to the end of the fixed part ({pos})")
    for k, i in enumerate(var_idx):
        start = spans[i][0]
        end = spans[var_idx[k + 1]][0] if k + 1 < len(var_idx) else n
        if start > end:
            raise DecodeError(f"{name}: offsets out of order ({start} > {end})")
        if end > n:
            raise DecodeError(f"{name}: offset {end} beyond the input ({n} bytes)")
        spans[i][1] = end
    return [(a, b) for a, b in spans]
