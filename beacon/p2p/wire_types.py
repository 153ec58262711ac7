"""SSZ types of the req/resp messages, declared with beacon.ssz (p2p-interface.md,
v0.8.3 "Messages"). No `from __future__ import annotations` here: beacon.ssz reads the
field annotations as live types.

Goodbye's content is a single field, so on the wire it is the bare uint64 (the spec:
"for objects containing a single field, only the field is SSZ-encoded"); likewise
RecentBeaconBlocksRequest is the bare List[Bytes32] and ErrorMessage the bare UTF-8.
"""
from beacon.ssz import Bytes4, Bytes32, Container, List, uint64

from .constants import MAX_REQUEST_BLOCKS


class HelloMessageSSZ(Container):
    fork_version: Bytes4
    finalized_root: Bytes32
    finalized_epoch: uint64
    head_root: Bytes32
    head_slot: uint64


class BeaconBlocksRequestSSZ(Container):
    head_block_root: Bytes32
    start_slot: uint64
    count: uint64
    step: uint64


GoodbyeReasonSSZ = uint64
BlockRootsSSZ = List(Bytes32, MAX_REQUEST_BLOCKS)
