"""Time from start until every node has its target peers: discv5 with one bootnode against
the hand-wired baseline (static peers, a full mesh), for 8 and 16 nodes.

All nodes are real P2PServices (real Chains on LevelDB datadirs, libp2p over TCP) with their
discv5 nodes on 127.0.0.1 UDP, in this one process: every SecIO handshake of every node
shares one core, so the figures are pessimistic for a real multi-machine network.

1. Baseline: node i is started with nodes 0..i-1 as static peers (one dial per pair).
2. Discovery: node 0 is the bootnode; nodes 1.. know only its ENR; target N-1 peers each.
Timed from the start of the first node until every node has N-1 peers.

    python benchmarks/discovery.py [--nodes 8 16]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beacon.p2p.discv5.enr import ENRForkID  # noqa: E402
from beacon.p2p.discv5.service import DiscoveryOptions, DiscoveryService  # noqa: E402
from beacon.p2p.service import P2PService  # noqa: E402
from beacon.p2p.testing import prebuilt_chain  # noqa: E402
from beacon.chain import Chain  # noqa: E402

TIMEOUT = 120.0


async def _run(n: int, workdir: Path, discovery: bool) -> float:
    pre = prebuilt_chain(0, validators=16)
    async with AsyncExitStack() as stack:
        chains = []
        for i in range(n):
            chains.append(Chain.open(workdir / f"n{i}" / "db", pre.genesis))
            stack.callback(chains[-1].close)
        nursery = await stack.enter_async_context(trio.open_nursery())
        services: list[P2PService] = []
        boot_enr: Any = None
        fork = ENRForkID.for_chain(bytes(pre.genesis.fork.current_version), chains[0].genesis_root)
        started = time.perf_counter()
        for i in range(n):
            static = [] if discovery else [s.multiaddr() for s in services]
            service = P2PService(chains[i], datadir=workdir / f"n{i}", listen_address="127.0.0.1", port=0,
                                 static_peers=static)
            await nursery.start(service.run)
            services.append(service)
            if discovery:
                disc = DiscoveryService(service.host, workdir / f"n{i}", fork,
                                        DiscoveryOptions(bootnodes=(boot_enr,) if boot_enr else (),
                                                         enr_address="127.0.0.1", udp_port=0, target_peers=n - 1),
                                        peer_count=lambda s=service: len(s.peers()))
                record = await nursery.start(disc.run)
                boot_enr = boot_enr or record
        with trio.move_on_after(TIMEOUT):
            while not all(len(s.peers()) >= n - 1 for s in services):
                await trio.sleep(0.05)
        elapsed = time.perf_counter() - started
        if not all(len(s.peers()) >= n - 1 for s in services):
            print(f"{'discovery' if discovery else 'static'} {n} nodes: not done in {TIMEOUT:.0f} s; peers "
                  f"{[len(s.peers()) for s in services]}", flush=True)
            elapsed = float("nan")
        nursery.cancel_scope.cancel()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[8, 16])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for n in args.nodes:
        with tempfile.TemporaryDirectory() as tmp:
            static = trio.run(_run, n, Path(tmp) / "static", False)
            print(f"result: static_full_mesh_{n}_nodes_to_{n - 1}_peers {static:.2f} s", flush=True)
            found = trio.run(_run, n, Path(tmp) / "disc", True)
            print(f"result: discv5_one_bootnode_{n}_nodes_to_{n - 1}_peers {found:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
