"""Real nodes for tests: a P2PHost on 127.0.0.1 (free port), its PeerManager and Gossip,
all in the caller's trio run. Nothing here is mocked."""
from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Sequence

import trio

from beacon.p2p.gossip import Gossip
from beacon.p2p.host import HostConfig, P2PHost
from beacon.p2p.peers import PeerManager

from .memchain import MemoryChain


@dataclass
class Node:
    host: P2PHost
    chain: MemoryChain
    peers: PeerManager
    gossip: Gossip | None
    received: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def addr(self) -> str:
        return self.host.multiaddr()


@asynccontextmanager
async def running_node(
    datadir: Path,
    chain: MemoryChain | None = None,
    gossip: bool = False,
    static_peers: Sequence[str] = (),
    port: int = 0,
    **host_kwargs: object,
) -> AsyncIterator[Node]:
    chain = chain or MemoryChain.with_blocks([0])
    config = HostConfig(listen_address="127.0.0.1", port=port, static_peers=static_peers, **host_kwargs)  # type: ignore[arg-type]
    host = P2PHost.from_datadir(datadir, config)
    peers = PeerManager(host, chain)
    peers.install()
    node = Node(host, chain, peers, None)
    if gossip:

        async def on_message(topic: str, data: bytes, origin: object) -> None:
            node.received.append((topic, data))

        node.gossip = Gossip(host, chain.validate_gossip, on_message=on_message, on_invalid=peers.on_invalid_gossip,
                             dialects=peers.dialects)
    async with trio.open_nursery() as nursery:
        async with host.run():
            await nursery.start(peers.run)
            if node.gossip is not None:
                async with node.gossip.run():
                    yield node
            else:
                yield node
            nursery.cancel_scope.cancel()


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll a condition over real time; returns its final value (tests assert on it)."""
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(interval)
    return bool(predicate())
