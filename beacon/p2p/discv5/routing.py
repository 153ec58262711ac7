"""The node table: 256 k-buckets by log2 distance from our node id (Kademlia as in discv5 theory).

A bucket keeps its longest-known live nodes (they are the likeliest to stay); a new node
enters a full bucket only when one there has failed to answer. Nodes that fail twice in a
row are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from beacon.p2p.discv5.enr import ENR

BUCKET_SIZE = 16
MAX_FAILURES = 2


def log2_distance(a: bytes, b: bytes) -> int:
    """0 for equal ids, else the bit length of a xor b (1..256)."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


def xor_distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


@dataclass
class Entry:
    record: ENR
    failures: int = 0


@dataclass
class RoutingTable:
    local_id: bytes
    bucket_size: int = BUCKET_SIZE
    buckets: list[list[Entry]] = field(default_factory=lambda: [[] for _ in range(257)])

    def _bucket(self, node_id: bytes) -> list[Entry]:
        return self.buckets[log2_distance(self.local_id, node_id)]

    def get(self, node_id: bytes) -> Optional[ENR]:
        for e in self._bucket(node_id):
            if e.record.node_id == node_id:
                return e.record
        return None

    def add(self, record: ENR) -> bool:
        """Insert or refresh (a higher seq replaces the record); False if the bucket is full."""
        if record.node_id == self.local_id:
            return False
        bucket = self._bucket(record.node_id)
        for e in bucket:
            if e.record.node_id == record.node_id:
                if record.seq >= e.record.seq:
                    e.record = record
                e.failures = 0
                return True
        if len(bucket) >= self.bucket_size:
            failing = [e for e in bucket if e.failures > 0]
            if not failing:
                return False
            bucket.remove(failing[0])
        bucket.append(Entry(record))
        return True

    def mark_failed(self, node_id: bytes) -> None:
        bucket = self._bucket(node_id)
        for e in bucket:
            if e.record.node_id == node_id:
                e.failures += 1
                if e.failures >= MAX_FAILURES:
                    bucket.remove(e)
                return

    def remove(self, node_id: bytes) -> None:
        bucket = self._bucket(node_id)
        bucket[:] = [e for e in bucket if e.record.node_id != node_id]

    def at_distances(self, distances: Iterable[int], limit: int) -> list[ENR]:
        out: list[ENR] = []
        for d in distances:
            if 1 <= d <= 256:
                out += [e.record for e in self.buckets[d]]
        return out[:limit]

    def closest(self, target: bytes, count: int) -> list[ENR]:
        return sorted(self.records(), key=lambda r: xor_distance(r.node_id, target))[:count]

    def records(self) -> list[ENR]:
        return [e.record for b in self.buckets for e in b]

    def __len__(self) -> int:
        return sum(len(b) for b in self.buckets)
