"""Range-sync throughput over loopback: a pre-built 2,000-block minimal chain, full verification.

1. The chain (interop validators, every block carrying the previous slot's attestations with
   full participation) is built once and cached under the user cache dir, keyed by its
   parameters (beacon/p2p/testing.py).
2. Baseline, timed: Chain.import_block of every block into a fresh datadir, no network
   (full BLS, state roots checked). That datadir becomes the server's.
3. The server, a separate OS process, opens that datadir and runs a P2PService on 127.0.0.1.
4. Timed: a fresh Chain + P2PService in this process dials it (static peer); from its start
   until its head is the last block: Hello, BeaconBlocks requests of 64, import of every block
   (full BLS, state roots checked), one batch in flight while importing.

    python benchmarks/range_sync.py [--blocks 2000] [--validators 64] [--batch 64]

Profile with a sampling profiler from outside the process, e.g.
    py-spy record -o sync.svg -- python benchmarks/range_sync.py
(pyinstrument inside the process keeps a memoryview alive in py-libp2p's SecureSession
buffer and makes its read loop fail with BufferError: do not use it here.)
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def serve(datadir: str, blocks: int, validators: int) -> int:
    """Server mode (child process): serve the imported chain until stdin closes."""
    import trio

    from beacon.chain import Chain
    from beacon.p2p.service import P2PService
    from beacon.p2p.testing import prebuilt_chain

    pre = prebuilt_chain(blocks, validators=validators)
    chain = Chain.open(Path(datadir) / "db", pre.genesis)

    async def main() -> None:
        service = P2PService(chain, datadir=datadir, listen_address="127.0.0.1", port=0)
        async with trio.open_nursery() as nursery:
            addr = await nursery.start(service.run)
            print(addr, flush=True)
            # stdin closing (the parent is done or gone) ends the server
            await trio.to_thread.run_sync(sys.stdin.read)
            await service.shutdown()

    trio.run(main)
    chain.close()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=2000)
    ap.add_argument("--validators", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64, help="blocks per BeaconBlocks request")
    ap.add_argument("--serve", metavar="DATADIR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve, args.blocks, args.validators)

    logging.basicConfig(level=logging.WARNING)
    import trio

    from beacon.chain import Chain, Status
    from beacon.crypto import bls
    from beacon.p2p.service import P2PConfig, P2PService
    from beacon.p2p.testing import prebuilt_chain

    assert bls.is_bls_enabled() and bls.get_backend() == "fast", "benchmark wants full BLS on the fast backend"
    t0 = time.perf_counter()
    pre = prebuilt_chain(args.blocks, validators=args.validators)
    blocks = pre.decoded()
    print(f"chain: {len(blocks)} blocks, {args.validators} validators, minimal preset "
          f"({time.perf_counter() - t0:.1f} s to build or load; cache {pre.path})")

    with tempfile.TemporaryDirectory() as tmp:
        server_dir = Path(tmp) / "server"
        server_dir.mkdir()
        # -- baseline: import only ----------------------------------------------------
        chain = Chain.open(server_dir / "db", pre.genesis)
        t0 = time.perf_counter()
        for i, block in enumerate(blocks, 1):
            res = chain.import_block(block)
            if res.status is not Status.IMPORTED:
                print(f"baseline: block {i} {res.status.value}: {res.reason}")
                return 1
        baseline = time.perf_counter() - t0
        last_root = chain.head.root
        fin = int(chain.finalized_checkpoint.epoch)
        chain.close()
        print(f"baseline, Chain.import_block without network: {len(blocks) / baseline:.1f} blocks/s "
              f"({baseline:.1f} s; finalized epoch {fin})")

        # -- server process -----------------------------------------------------------
        server = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", str(server_dir), "--blocks", str(args.blocks),
             "--validators", str(args.validators)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            addr = server.stdout.readline().strip()  # type: ignore[union-attr]
            if not addr.startswith("/ip4/"):
                print("server did not start")
                return 1
            # -- timed: range sync ----------------------------------------------------
            client = Chain.open(Path(tmp) / "client-db", pre.genesis)
            timings: dict[str, float] = {}

            async def sync() -> None:
                service = P2PService(client, datadir=Path(tmp) / "client", listen_address="127.0.0.1", port=0,
                                     static_peers=[addr], config=P2PConfig(sync_batch_size=args.batch))
                async with trio.open_nursery() as nursery:
                    start = time.perf_counter()
                    await nursery.start(service.run)
                    with trio.fail_after(600):
                        while client.head.root != last_root:
                            if client.head.slot > 0 and "first" not in timings:
                                timings["first"] = time.perf_counter() - start
                            await trio.sleep(0.01)
                    timings["total"] = time.perf_counter() - start
                    timings["batches"] = service.sync.batches
                    await service.shutdown()

            trio.run(sync)
            client.close()
        finally:
            if server.stdin:
                server.stdin.close()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()

    total = timings["total"]
    rate = len(blocks) / total
    print(f"range sync over loopback: {rate:.1f} blocks/s ({total:.1f} s for {len(blocks)} blocks in "
          f"{int(timings['batches'])} requests of {args.batch}; first block after {timings.get('first', 0) * 1e3:.0f} ms), "
          f"full BLS, state roots checked")
    print(f"  = {rate / (len(blocks) / baseline) * 100:.0f} % of the import-only baseline "
          f"({len(blocks) / baseline:.1f} blocks/s); target >= 100 blocks/s: {'met' if rate >= 100 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
