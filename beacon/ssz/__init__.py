"""pybeacon's SSZ layer (simple-serialize.md, v0.8.2): mutable values with cached, incremental roots.

Why our own layer and not py-ssz's objects: py-ssz 0.6 Serializable and Hashable* values are
immutable (every change returns a new object), while the spec mutates state in place
(`state.balances[i] += d`). Keeping spec functions readable side by side with the spec needs
mutable values; py-ssz stays as an independent cross-check in tests/test_ssz.py.
"""
from beacon.ssz.base import DecodeError, SSZType
from beacon.ssz.basic import (
    Boolean, ByteVector, Bytes4, Bytes32, Bytes48, Bytes96, UInt, boolean, byte,
    uint8, uint16, uint32, uint64, uint128, uint256,
)
from beacon.ssz.container import Container, decode, encode, hash_tree_root, signing_root
from beacon.ssz.sequence import Bitlist, Bitvector, List, Sequence, Vector

__all__ = [
    "DecodeError", "SSZType", "Boolean", "ByteVector", "Bytes4", "Bytes32", "Bytes48", "Bytes96",
    "UInt", "boolean", "byte", "uint8", "uint16", "uint32", "uint64", "uint128", "uint256",
    "Container", "decode", "encode", "hash_tree_root", "signing_root",
    "Bitlist", "Bitvector", "List", "Sequence", "Vector",
]
