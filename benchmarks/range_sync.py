"""Range-sync throughput over loopback: a pre-built 2,000-block minimal chain, full verification.

1. The chain (interop validators, every block carrying the previous slot's attestations with
   full participation) is built once and cached under the user cache dir, keyed by its
   parameters (beacon/p2p/testing.py).
2. Baseline, timed: Chain.import_block of every block into a fresh datadir, no network
   (full BLS, state roots checked). That datadir becomes the server's.
3. The server, a separate OS process, opens that datadir and runs a P2PService on 127.0.0.1.
4. Timed: a fresh Chain + P2PService in this process dials it (static peer); from its start
   until its head is the last block: Hello, BeaconBlocks requests of 64, import of every block
   (full BLS, state roots checked), one batch in flight while importing. Repeated --repeat
   times into fresh client datadirs.

Steps 2-4 run in a child process for this tree, then for the baseline revision
(benchmarks/_baseline.py), so both share the machine's load. Besides wall-clock rates it
prints the CPU time per block: the syncing process (all its threads) plus, in this tree, the
signature worker process (beacon/crypto/batch.py). On a shared machine wall time carries
other people's load; CPU time does not.

    python benchmarks/range_sync.py [--blocks 2000] [--validators 64] [--batch 64] [--repeat 3]

Profile with a sampling profiler from outside the process, e.g.
    py-spy record -o sync.svg -- python benchmarks/range_sync.py
(pyinstrument inside the process keeps a memoryview alive in py-libp2p's SecureSession
buffer and makes its read loop fail with BufferError: do not use it here.)
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The tree whose beacon package is measured (the baseline child sets PYBEACON_BENCH_TREE).
sys.path.insert(0, os.environ.get("PYBEACON_BENCH_TREE", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


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


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of another process, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(blocks_n: int, validators: int, batch: int, repeat: int) -> dict[str, float]:
    """Steps 2-4 with the beacon package on PYTHONPATH (this tree or the baseline's)."""
    logging.basicConfig(level=logging.WARNING)
    import trio

    from beacon.chain import Chain, Status
    from beacon.crypto import bls
    from beacon.p2p.service import P2PConfig, P2PService
    from beacon.p2p.testing import prebuilt_chain

    try:  # this tree: segment signatures are verified in a worker process
        from beacon.crypto.batch import default_verifier
    except ImportError:
        default_verifier = None  # type: ignore[assignment]

    def worker_cpu() -> float:
        if default_verifier is None:
            return 0.0
        return default_verifier().worker_cpu_time() or 0.0

    assert bls.is_bls_enabled() and bls.get_backend() == "fast", "benchmark wants full BLS on the fast backend"
    pre = prebuilt_chain(blocks_n, validators=validators)
    blocks = pre.decoded()
    out: dict[str, float] = {"blocks": len(blocks)}
    with tempfile.TemporaryDirectory() as tmp:
        server_dir = Path(tmp) / "server"
        server_dir.mkdir()
        # -- import only, no network (also fills the server's datadir) ----------------------
        chain = Chain.open(server_dir / "db", pre.genesis)
        t0, c0 = time.perf_counter(), time.process_time()
        for i, block in enumerate(blocks, 1):
            res = chain.import_block(block)
            if res.status is not Status.IMPORTED:
                raise SystemExit(f"import: block {i} {res.status.value}: {res.reason}")
        out["import_wall"], out["import_cpu"] = time.perf_counter() - t0, time.process_time() - c0
        last_root = chain.head.root
        chain.close()

        server = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", str(server_dir), "--blocks", str(blocks_n),
             "--validators", str(validators)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        runs: list[dict[str, float]] = []
        try:
            addr = server.stdout.readline().strip()  # type: ignore[union-attr]
            if not addr.startswith("/ip4/"):
                raise SystemExit("server did not start")
            if default_verifier is not None:
                default_verifier().wait_ready()  # a node starts it once; not part of a sync's cost
            for r in range(repeat):
                client = Chain.open(Path(tmp) / f"client-db-{r}", pre.genesis)
                timings: dict[str, float] = {}

                async def sync() -> None:
                    service = P2PService(client, datadir=Path(tmp) / f"client-{r}", listen_address="127.0.0.1",
                                         port=0, static_peers=[addr], config=P2PConfig(sync_batch_size=batch))
                    async with trio.open_nursery() as nursery:
                        start = time.perf_counter()
                        await nursery.start(service.run)
                        with trio.fail_after(600):
                            while client.head.root != last_root:
                                await trio.sleep(0.01)
                        timings["total"] = time.perf_counter() - start
                        await service.shutdown()

                w0, s0 = worker_cpu(), _proc_cpu(server.pid)
                c0 = time.process_time()
                trio.run(sync)
                cpu = time.process_time() - c0
                worker, served = worker_cpu() - w0, _proc_cpu(server.pid) - s0
                client.close()
                runs.append({"wall": timings["total"], "cpu": cpu, "worker_cpu": worker, "server_cpu": served})
        finally:
            if server.stdin:
                server.stdin.close()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    walls = [x["wall"] for x in runs]
    out["sync_wall"], out["sync_wall_best"] = statistics.median(walls), min(walls)
    out["sync_cpu"] = statistics.median(x["cpu"] for x in runs)
    out["sync_worker_cpu"] = statistics.median(x["worker_cpu"] for x in runs)
    out["server_cpu"] = statistics.median(x["server_cpu"] for x in runs)
    # With a core each (the loop process and the worker): the busier one bounds the rate.
    out["sync_cpu_bound"] = statistics.median(max(x["cpu"], x["worker_cpu"]) for x in runs)
    out["load"] = os.getloadavg()[0]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=2000)
    ap.add_argument("--validators", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64, help="blocks per BeaconBlocks request")
    ap.add_argument("--repeat", type=int, default=3, help="syncs per tree (median and best reported)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--serve", metavar="DATADIR", help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve, args.blocks, args.validators)
    if args.child:
        print(json.dumps(child(args.blocks, args.validators, args.batch, args.repeat)))
        return 0

    here = Path(__file__).resolve()
    sys.path.insert(0, str(here.parent))
    from _baseline import ROOT, baseline_rev, baseline_tree, run_child

    # Build (or load) the cached chain once, outside the timed children.
    sys.path.insert(0, str(ROOT))
    from beacon.p2p.testing import prebuilt_chain

    t0 = time.perf_counter()
    pre = prebuilt_chain(args.blocks, validators=args.validators)
    print(f"chain: {args.blocks} blocks, {args.validators} validators, minimal preset "
          f"({time.perf_counter() - t0:.1f} s to build or load; cache {pre.path})")

    rev = None if args.no_baseline else baseline_rev()
    trees = [("this tree", ROOT, "")]
    base = baseline_tree(rev) if rev else None
    if base is not None:
        trees.append((f"baseline {rev}", base, f"_baseline_{rev}"))
    child_args = ["--blocks", str(args.blocks), "--validators", str(args.validators), "--batch", str(args.batch),
                  "--repeat", str(args.repeat)]
    results = []
    for label, tree, suffix in trees:
        r = run_child(here, tree, child_args)
        results.append((suffix, r))
        n = r["blocks"]
        print(f"{label} (load average {r['load']:.2f} at its end, 2 cores shared):")
        print(f"  import without network: {n / r['import_wall']:.1f} blocks/s; CPU {r['import_cpu'] / n * 1e3:.2f} ms/block")
        print(f"  range sync over loopback, {args.repeat} runs: {n / r['sync_wall']:.1f} blocks/s median, "
              f"{n / r['sync_wall_best']:.1f} best; CPU per block: {r['sync_cpu'] / n * 1e3:.2f} ms syncing process + "
              f"{r['sync_worker_cpu'] / n * 1e3:.2f} ms signature worker; with a core each: "
              f"{n / r['sync_cpu_bound']:.1f} blocks/s")
        print(f"  (the serving peer, on the same 2 cores: {r['server_cpu'] / n * 1e3:.2f} ms CPU per block served)")
    print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores, shared)")
    for name, f in (
        ("range_sync_blocks_per_s", lambda r: (r["blocks"] / r["sync_wall"], "blocks/s")),
        ("range_sync_best_blocks_per_s", lambda r: (r["blocks"] / r["sync_wall_best"], "blocks/s")),
        ("range_sync_cpu_per_block", lambda r: ((r["sync_cpu"] + r["sync_worker_cpu"]) / r["blocks"] * 1e3, "ms")),
        ("range_sync_cpu_bound_blocks_per_s", lambda r: (r["blocks"] / r["sync_cpu_bound"], "blocks/s")),
        ("import_chain_blocks_per_s", lambda r: (r["blocks"] / r["import_wall"], "blocks/s")),
    ):
        for suffix, r in results:
            value, unit = f(r)
            print(f"result: {name}{suffix} {value:.1f} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
