"""What every API module shares: the error type, JSON responses, and the standard encoding.

The Beacon API encodes every uint64 as a decimal string (JavaScript numbers lose precision
above 2**53), roots and byte strings as 0x-hex, bitfields as the 0x-hex of their SSZ bytes.
Errors are `{"code": <status>, "message": "..."}`.
"""
from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

SSZ_TYPE = "application/octet-stream"


class ApiError(Exception):
    """A request we refuse: 400 (malformed), 404 (unknown), 405, 413, 503..."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def hex_root(root: bytes) -> str:
    return "0x" + bytes(root).hex()


def json_response(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")).encode() + b"\n", status,
                    media_type="application/json")


def error_response(status: int, message: str) -> Response:
    return json_response({"code": status, "message": message}, status)


def api_obj(value: Any) -> Any:
    """to_obj() output in the API's encoding: ints become decimal strings, bools stay bools."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return {k: api_obj(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_obj(v) for v in value]
    return value


def ssz_obj(value: Any) -> Any:
    """An SSZ container as the API's JSON object."""
    return api_obj(type(value).to_obj(value))


def parse_uint(text: str, what: str) -> int:
    if not text.isdigit():
        raise ApiError(400, f"{what} must be a decimal unsigned integer, got {text[:80]!r}")
    value = int(text)
    if value >= 2**64:
        raise ApiError(400, f"{what} {text[:30]} does not fit in uint64")
    return value


def parse_root(text: str, what: str) -> bytes:
    if not text.startswith("0x") or len(text) != 66:
        raise ApiError(400, f"{what} must be 0x and 64 hex digits, got {text[:80]!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise ApiError(400, f"{what} must be 0x and 64 hex digits, got {text[:80]!r}") from None


def wants_ssz(accept: str) -> bool:
    """True when the client prefers SSZ (Accept: application/octet-stream, possibly among others
    with a higher q than JSON)."""
    best, best_q = "", -1.0
    for part in accept.split(","):
        fields = part.strip().split(";")
        media = fields[0].strip().lower()
        q = 1.0
        for f in fields[1:]:
            k, _, v = f.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if media in (SSZ_TYPE, "application/json", "*/*") and q > best_q:
            best, best_q = media, q
    return best == SSZ_TYPE
