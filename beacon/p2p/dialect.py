"""What we have learnt of each peer's dialect of the 2019 wire protocol.

The clients of the 2019 interop each read the v0.8.x networking text a little
differently (docs/interop.md, "Dialects"). None of those differences is misbehaviour:
a peer that answers `na` to a protocol name, wraps a single-field message in an SSZ
container, publishes unsigned gossip, never sends Hello or names blocks by
hash_tree_root is remembered here and spoken to in a way it understands. Only real
faults (invalid blocks, broken framing again and again) are scored by the peer manager.

Records outlive connections (a peer that reconnects keeps its dialect) and are bounded.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Sequence

from libp2p.peer.id import ID

MAX_REMEMBERED_PEERS = 1024


@dataclass
class Dialect:
    """Capabilities and habits of one peer, each None until its own bytes showed it."""

    unsupported: set[str] = field(default_factory=set)  # protocol ids it answered `na`
    supported: set[str] = field(default_factory=set)  # protocol ids negotiated with it
    # Sends single-field messages as an SSZ container (offset 4, then the field), as
    # Trinity did, where v0.8.3 says "only the field is SSZ-encoded".
    wraps_single_field: bool | None = None
    sends_hello: bool | None = None  # sent a Hello (or Status) of its own
    signs_gossip: bool | None = None  # its pubsub messages carry signature and key
    names_blocks_by_hash_tree_root: bool | None = None  # where v0.8.3 says signing_root
    undecodable_responses: int = 0  # consecutive answers we could not decode

    def order(self, protocols: Sequence[str]) -> list[str]:
        """`protocols` for multistream-select: the ones it spoke before first, the ones it
        refused last (kept, in case it restarted with another version)."""
        def rank(p: str) -> int:
            return 0 if p in self.supported else 2 if p in self.unsupported else 1

        return sorted(protocols, key=rank)

    def negotiated(self, offered: Sequence[str], chosen: str) -> None:
        """multistream-select picked `chosen` from `offered`: those tried before it got `na`."""
        for p in offered:
            if p == chosen:
                break
            self.unsupported.add(p)
        self.supported.add(chosen)
        self.unsupported.discard(chosen)

    def refused_all(self, offered: Sequence[str]) -> None:
        self.unsupported.update(offered)
        self.supported.difference_update(offered)

    def summary(self) -> dict[str, object]:
        """For the API and logs: only what is known."""
        out: dict[str, object] = {}
        for name in ("wraps_single_field", "sends_hello", "signs_gossip", "names_blocks_by_hash_tree_root"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.unsupported:
            out["unsupported"] = sorted(self.unsupported)
        if self.supported:
            out["supported"] = sorted(self.supported)
        return out


class Dialects:
    """Dialect records by peer id, least recently used dropped first."""

    def __init__(self, limit: int = MAX_REMEMBERED_PEERS) -> None:
        self._records: OrderedDict[ID, Dialect] = OrderedDict()
        self._limit = limit

    def of(self, peer_id: ID) -> Dialect:
        record = self._records.get(peer_id)
        if record is None:
            record = self._records[peer_id] = Dialect()
            while len(self._records) > self._limit:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(peer_id)
        return record

    def known(self, peer_id: ID) -> Dialect | None:
        return self._records.get(peer_id)
