"""Ethereum Node Records (EIP-778) with the "v4" identity scheme.

    record = ENR.create(secret, seq=1, ip="127.0.0.1", udp=9000, tcp=9000, eth2=ENRForkID(...).encode())
    text = record.to_text()                # "enr:-IS4Q..."
    record = ENR.from_text(text)           # ENRError with the reason if anything is wrong

A record is checked completely when decoded: size (<= 300 bytes), RLP shape, canonical
integers, keys sorted and unique, identity scheme "v4", a valid public key and a valid
signature, and well-formed ip/tcp/udp/eth2 values. Unknown keys are kept as they are.

The `eth2` field: the 16-byte SSZ ENRForkID of the eth2 p2p spec (v0.10), fork_digest ||
next_fork_version || next_fork_epoch (uint64 little-endian). pybeacon speaks spec v0.8.2,
which had no fork digest, so our digest is the first 4 bytes of
sha256(fork_version padded to 32 bytes || genesis block root): the v0.10 compute_fork_digest
layout with the genesis root standing in for genesis_validators_root. It carries the fork
version and tells apart two chains that share one (every interop testnet used 0x00000000).
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import rlp
from rlp.exceptions import DecodingError

from beacon.p2p.discv5 import crypto

MAX_RECORD_SIZE = 300
FAR_FUTURE_EPOCH = 2**64 - 1
RLPItem = Union[bytes, list]


class ENRError(ValueError):
    """A node record that is malformed, unsigned or badly signed."""


@dataclass(frozen=True)
class ENRForkID:
    fork_digest: bytes
    next_fork_version: bytes
    next_fork_epoch: int = FAR_FUTURE_EPOCH

    def encode(self) -> bytes:
        return self.fork_digest + self.next_fork_version + self.next_fork_epoch.to_bytes(8, "little")

    @classmethod
    def decode(cls, data: bytes) -> "ENRForkID":
        if len(data) != 16:
            raise ENRError(f"eth2 field must be 16 bytes (ENRForkID), got {len(data)}")
        return cls(data[:4], data[4:8], int.from_bytes(data[8:], "little"))

    @classmethod
    def for_chain(cls, fork_version: bytes, genesis_root: bytes) -> "ENRForkID":
        return cls(compute_fork_digest(fork_version, genesis_root), fork_version)


def compute_fork_digest(fork_version: bytes, genesis_root: bytes) -> bytes:
    # hash_tree_root(ForkData(version, root)) of v0.10: two 32-byte chunks, one sha256.
    return hashlib.sha256(fork_version.ljust(32, b"\0") + genesis_root).digest()[:4]


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _decode_uint(raw: RLPItem, what: str, limit: int) -> int:
    if not isinstance(raw, bytes):
        raise ENRError(f"{what} must be an integer, got a list")
    if raw[:1] == b"\0":
        raise ENRError(f"{what} has leading zero bytes (not canonical)")
    value = int.from_bytes(raw, "big")
    if value > limit:
        raise ENRError(f"{what} {value} is out of range")
    return value


@dataclass(frozen=True)
class ENR:
    seq: int
    pairs: dict[bytes, RLPItem]  # sorted keys; values as RLP items
    signature: bytes
    node_id: bytes = field(compare=False)
    raw: bytes = field(compare=False, repr=False)

    # -- building --------------------------------------------------------------------------

    @staticmethod
    def _values(ip: Optional[str], tcp: Optional[int], udp: Optional[int], eth2: Optional[bytes],
                extra: Optional[dict[bytes, RLPItem]]) -> dict[bytes, RLPItem]:
        pairs: dict[bytes, RLPItem] = dict(extra or {})
        if ip is not None:
            pairs[b"ip"] = ipaddress.IPv4Address(ip).packed
        for key, port in ((b"tcp", tcp), (b"udp", udp)):
            if port is not None:
                if not 0 < port <= 65535:
                    raise ENRError(f"{key.decode()} port {port} is out of range")
                pairs[key] = _int_bytes(port)
        if eth2 is not None:
            pairs[b"eth2"] = eth2
        return pairs

    @classmethod
    def create(cls, secret: bytes, seq: int = 1, *, ip: Optional[str] = None, tcp: Optional[int] = None,
               udp: Optional[int] = None, eth2: Optional[bytes] = None,
               extra: Optional[dict[bytes, RLPItem]] = None) -> "ENR":
        pairs = cls._values(ip, tcp, udp, eth2, extra)
        pairs[b"id"] = b"v4"
        pairs[b"secp256k1"] = crypto.public_key(secret)
        keys = sorted(pairs)
        content: list[Any] = [_int_bytes(seq)]
        for k in keys:
            content += [k, pairs[k]]
        signature = crypto.sign(secret, crypto.keccak256(rlp.encode(content)))
        raw = rlp.encode([signature] + content)
        if len(raw) > MAX_RECORD_SIZE:
            raise ENRError(f"record would be {len(raw)} bytes, over the {MAX_RECORD_SIZE}-byte limit")
        return cls.from_rlp(raw)

    # -- decoding --------------------------------------------------------------------------

    @classmethod
    def from_rlp(cls, raw: bytes) -> "ENR":
        if len(raw) > MAX_RECORD_SIZE:
            raise ENRError(f"record is {len(raw)} bytes, over the {MAX_RECORD_SIZE}-byte limit")
        try:
            items = rlp.decode(raw, strict=True)
        except DecodingError as e:
            raise ENRError(f"record is not valid RLP: {e}") from None
        return cls.from_items(items, raw)

    @classmethod
    def from_items(cls, items: Any, raw: Optional[bytes] = None) -> "ENR":
        """From an already decoded RLP list (a record inside a NODES message)."""
        if not isinstance(items, list):
            raise ENRError("record must be an RLP list")
        if raw is None:
            raw = rlp.encode(items)
            if len(raw) > MAX_RECORD_SIZE:
                raise ENRError(f"record is {len(raw)} bytes, over the {MAX_RECORD_SIZE}-byte limit")
        if len(items) < 2 or len(items) % 2 != 0:
            raise ENRError(f"record must be [signature, seq, key, value, ...], got {len(items)} items")
        signature = items[0]
        if not isinstance(signature, bytes) or len(signature) != 64:
            raise ENRError("v4 signature must be 64 bytes")
        seq = _decode_uint(items[1], "seq", 2**64 - 1)
        pairs: dict[bytes, RLPItem] = {}
        previous: Optional[bytes] = None
        for i in range(2, len(items), 2):
            key = items[i]
            if not isinstance(key, bytes):
                raise ENRError("record key must be a byte string")
            if previous is not None and key <= previous:
                raise ENRError(f"record keys not sorted and unique at {key!r}")
            previous = key
            pairs[key] = items[i + 1]
        scheme = pairs.get(b"id")
        if scheme != b"v4":
            raise ENRError(f"unsupported identity scheme {scheme!r} (only v4)")
        pub = pairs.get(b"secp256k1")
        if not isinstance(pub, bytes):
            raise ENRError("record has no secp256k1 key")
        try:
            crypto.check_public_key(pub)
        except crypto.CryptoError as e:
            raise ENRError(f"secp256k1 field: {e}") from None
        if not crypto.verify(pub, crypto.keccak256(rlp.encode(items[1:])), signature):
            raise ENRError("record signature does not verify")
        record = cls(seq=seq, pairs=pairs, signature=signature, node_id=crypto.node_id_of(pub), raw=raw)
        record._check_known_fields()
        return record

    def _check_known_fields(self) -> None:
        ip = self.pairs.get(b"ip")
        if ip is not None and (not isinstance(ip, bytes) or len(ip) != 4):
            raise ENRError("ip field must be 4 bytes")
        for key in (b"tcp", b"udp"):
            if key in self.pairs:
                if _decode_uint(self.pairs[key], f"{key.decode()} port", 65535) == 0:
                    raise ENRError(f"{key.decode()} port 0 is not a port")
        eth2 = self.pairs.get(b"eth2")
        if eth2 is not None:
            if not isinstance(eth2, bytes):
                raise ENRError("eth2 field must be a byte string")
            ENRForkID.decode(eth2)

    @classmethod
    def from_text(cls, text: str) -> "ENR":
        text = text.strip()
        if not text.startswith("enr:"):
            raise ENRError("an ENR starts with 'enr:'")
        body = text[4:]
        if not body or any(c not in _B64URL for c in body) or len(body) % 4 == 1:
            raise ENRError("ENR text is not URL-safe base64")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return cls.from_rlp(raw)

    # -- text and fields ---------------------------------------------------------------------

    def to_text(self) -> str:
        return "enr:" + base64.urlsafe_b64encode(self.raw).decode("ascii").rstrip("=")

    @property
    def public_key(self) -> bytes:
        pub = self.pairs[b"secp256k1"]
        assert isinstance(pub, bytes)
        return pub

    @property
    def ip(self) -> Optional[str]:
        raw = self.pairs.get(b"ip")
        return str(ipaddress.IPv4Address(raw)) if isinstance(raw, bytes) else None

    def _port(self, key: bytes) -> Optional[int]:
        raw = self.pairs.get(key)
        return int.from_bytes(raw, "big") if isinstance(raw, bytes) else None

    @property
    def tcp(self) -> Optional[int]:
        return self._port(b"tcp")

    @property
    def udp(self) -> Optional[int]:
        return self._port(b"udp")

    @property
    def eth2(self) -> Optional[ENRForkID]:
        raw = self.pairs.get(b"eth2")
        return ENRForkID.decode(raw) if isinstance(raw, bytes) else None

    def udp_address(self) -> Optional[tuple[str, int]]:
        ip, udp = self.ip, self.udp
        return (ip, udp) if ip and udp else None

    def same_content(self, ip: Optional[str], tcp: Optional[int], udp: Optional[int], eth2: Optional[bytes],
                     extra: Optional[dict[bytes, RLPItem]] = None) -> bool:
        """Whether a record with these values would differ from this one (seq aside)."""
        wanted = self._values(ip, tcp, udp, eth2, extra)
        mine = {k: v for k, v in self.pairs.items() if k not in (b"id", b"secp256k1")}
        return wanted == mine

    def describe(self) -> dict[str, Any]:
        """Decoded fields for people (the `pybeacon enr` command, logs)."""
        out: dict[str, Any] = {"seq": self.seq, "node_id": self.node_id.hex(), "id": "v4",
                               "secp256k1": self.public_key.hex()}
        if self.ip is not None:
            out["ip"] = self.ip
        if self.tcp is not None:
            out["tcp"] = self.tcp
        if self.udp is not None:
            out["udp"] = self.udp
        fork = self.eth2
        if fork is not None:
            out["eth2"] = {"fork_digest": "0x" + fork.fork_digest.hex(),
                           "next_fork_version": "0x" + fork.next_fork_version.hex(),
                           "next_fork_epoch": fork.next_fork_epoch}
        for k, v in self.pairs.items():
            if k not in (b"id", b"secp256k1", b"ip", b"tcp", b"udp", b"eth2"):
                out[k.decode("ascii", "replace")] = v.hex() if isinstance(v, bytes) else "(list)"
        return out

    def __str__(self) -> str:
        return f"ENR(0x{self.node_id.hex()[:12]} seq {self.seq} {self.ip}:{self.udp})"


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
