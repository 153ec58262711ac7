"""Dial peers found by discovery until we have the target number of peers.

Only records of our chain are dialled: an `eth2` field with our fork digest (fork version and
genesis, see enr.py) and an ip/tcp endpoint. Static peers are the host's business (it keeps
redialling them); they count toward the target like any other peer. A peer that cannot be
reached waits 2, 4, 8 ... (at most 120) seconds before it is tried again.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, Optional

import multiaddr
import trio
from libp2p.crypto.secp256k1 import Secp256k1PublicKey
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from beacon.p2p.discv5.enr import ENR
from beacon.p2p.discv5.protocol import Discv5
from beacon.p2p.host import P2PHost

CHECK_INTERVAL = 0.5
# Two nodes that find each other at once would dial each other at once, and one of the two
# crossing handshakes fails. The node with the lower id dials first; the other waits this long
# for the inbound connection before it dials itself.
YIELD_TO_LOWER_ID = 3.0
LOOKUP_INTERVAL = 2.0  # a random lookup this often while short of candidates
MAX_BACKOFF = 120.0


def peer_id_of_record(record: ENR) -> ID:
    return ID.from_pubkey(Secp256k1PublicKey.from_bytes(record.public_key))


def multiaddr_of_record(record: ENR) -> Optional[str]:
    if record.ip is None or record.tcp is None:
        return None
    return f"/ip4/{record.ip}/tcp/{record.tcp}/p2p/{peer_id_of_record(record)}"


class Dialer:
    def __init__(self, discovery: Discv5, host: P2PHost, fork_digest: bytes, target_peers: int,
                 peer_count: Callable[[], int], log: Optional[logging.Logger] = None) -> None:
        self.discovery = discovery
        self.host = host
        self.fork_digest = fork_digest
        self.target_peers = target_peers
        self.peer_count = peer_count
        self.log = log or logging.getLogger("beacon.p2p.discv5")
        self._dialling: set[bytes] = set()
        self._backoff: dict[bytes, tuple[int, float]] = {}  # node id -> (failures, not before)
        self._first_seen: dict[bytes, float] = {}
        self.other_fork: set[bytes] = set()  # node ids we refused to dial
        self.dialled = 0
        self.connected = 0

    def wanted(self, record: ENR) -> bool:
        """Whether this record is a peer of our chain that we could dial now."""
        if record.node_id == self.discovery.local_id or record.node_id in self._dialling:
            return False
        fork = record.eth2
        if fork is None or fork.fork_digest != self.fork_digest:
            if record.node_id not in self.other_fork:
                self.other_fork.add(record.node_id)
                self.log.debug("not dialling 0x%s: %s", record.node_id.hex()[:12],
                               "no eth2 field" if fork is None else f"fork digest 0x{fork.fork_digest.hex()}")
            return False
        if record.ip is None or record.tcp is None:
            return False
        now = time.monotonic()
        failures, not_before = self._backoff.get(record.node_id, (0, 0.0))
        if now < not_before:
            return False
        first_seen = self._first_seen.setdefault(record.node_id, now)
        if record.node_id < self.discovery.local_id and now - first_seen < YIELD_TO_LOWER_ID:
            return False
        return not self.host.is_connected(peer_id_of_record(record))

    async def run(self) -> None:
        last_lookup = 0.0
        async with trio.open_nursery() as nursery:
            while True:
                short = self.target_peers - self.peer_count() - len(self._dialling)
                if short > 0:
                    candidates = [r for r in self.discovery.known_records() if self.wanted(r)]
                    for record in candidates[:short]:
                        self._dialling.add(record.node_id)
                        nursery.start_soon(self._dial, record)
                    if len(candidates) < short and time.monotonic() - last_lookup > LOOKUP_INTERVAL:
                        last_lookup = time.monotonic()
                        nursery.start_soon(self.discovery.lookup, os.urandom(32))
                await trio.sleep(CHECK_INTERVAL)

    async def _dial(self, record: ENR) -> None:
        address = multiaddr_of_record(record)
        assert address is not None
        info = PeerInfo(peer_id_of_record(record), [multiaddr.Multiaddr(address.rsplit("/p2p/", 1)[0])])
        self.dialled += 1
        try:
            await self.host.dial(info, attempts=2)
            self.connected += 1
            self._backoff.pop(record.node_id, None)
            self.log.info("connected to discovered peer %s", address)
        except Exception as e:  # noqa: BLE001 - DialError, or anything a bad peer makes libp2p raise
            failures = self._backoff.get(record.node_id, (0, 0.0))[0] + 1
            delay = min(MAX_BACKOFF, 2.0 ** failures)
            self._backoff[record.node_id] = (failures, time.monotonic() + delay)
            self.log.debug("discovered peer %s unreachable (%s); next try in %.0f s", address, e, delay)
        finally:
            self._dialling.discard(record.node_id)
