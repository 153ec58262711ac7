"""Slasher: cost per attestation aggregate and memory, at 16,384 and 300,000 validators.

    python benchmarks/slasher.py [--sizes 16384:70,300000:8] [--span-epochs 4096,1024] [--no-baseline]

An honest stream at mainnet committee sizes (v0.8.2 mainnet: 64 slots, committees per slot
min(16, N / 64 / 128): 128 per epoch of 128 validators at 16,384; 1,024 of 293 at 300,000),
one aggregate per committee per epoch, the whole committee in it, source = target - 1 (every
fourth epoch target - 2, justification lagging). Each size runs in its own process with this
tree and with the baseline revision (default 68615c7: the dict-per-validator slasher of issue 13;
PYBEACON_BENCH_BASELINE=<rev> to change it), back to back so both see the same load. Figures:

  aggregate      time in on_indexed_attestation per aggregate (median over epochs, the first
                 epoch left out: array allocation), building the IndexedAttestations not counted;
  aggregate_cpu  the same in thread CPU time (less sensitive to the machine's load)
  memory         RSS growth of the process after the run, the stream's own objects dropped
                 (this tree: fixed by the windows; the baseline: grows with epochs up to 64)
  bytes_per_validator_epoch  that memory over validators x epochs covered (this tree: the
                 span window; the baseline: the epochs run, at most its 64)
  window         epochs a surround vote may span and still be found

The 300,000 run uses a 1,024-epoch span window by default (1.2 GB of arrays; 4,096 would take
4.9 GB, which a shared machine should not be asked for): memory is 4 B per validator and epoch
of the span window plus 4 B per validator and epoch of the record window (64), exactly.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
DEFAULT_SIZES = "16384:70,300000:8"
DEFAULT_SPANS = "4096,1024"
DEFAULT_BASELINE = "68615c7"  # main after issue 13: the slasher this one replaces


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(n: int, epochs: int, span_epochs: int) -> dict:
    import numpy as np

    from beacon.chain.slasher import Slasher
    from beacon.config import load_config
    from beacon.types.phase0 import get_types

    cfg = load_config("mainnet")
    t = get_types(cfg)
    per_slot = max(1, min(cfg.SHARD_COUNT // cfg.SLOTS_PER_EPOCH, n // cfg.SLOTS_PER_EPOCH // cfg.TARGET_COMMITTEE_SIZE))
    count = per_slot * cfg.SLOTS_PER_EPOCH
    rng = np.random.default_rng(1)
    gc.collect()
    before = rss_mb()
    try:
        slasher = Slasher(t, cfg, span_epochs=span_epochs)
        window = covered = span_epochs  # its arrays cover the window from the start
    except TypeError:  # the baseline: one fixed history
        slasher = Slasher(t, cfg)
        window = slasher.history_epochs
        covered = min(window, epochs)
    per_agg: list[float] = []
    per_cpu: list[float] = []
    sizes = set()
    for epoch in range(1, epochs + 1):
        source = epoch - 2 if epoch % 4 == 0 and epoch >= 2 else epoch - 1
        committees = np.array_split(rng.permutation(n), count)
        atts = []
        for c, members in enumerate(committees):
            data = t.AttestationData(beacon_block_root=(epoch * 4096 + c // per_slot).to_bytes(32, "little"),
                                     source=t.Checkpoint(epoch=source, root=source.to_bytes(32, "little")),
                                     target=t.Checkpoint(epoch=epoch, root=epoch.to_bytes(32, "little")),
                                     crosslink=t.Crosslink(shard=c % cfg.SHARD_COUNT))
            atts.append(t.IndexedAttestation(custody_bit_0_indices=sorted(members.tolist()), data=data))
            sizes.add(len(members))
        t0, c0 = time.perf_counter(), time.thread_time()
        for a in atts:
            if slasher.on_indexed_attestation(a):
                raise AssertionError("an honest stream was reported")
        if epoch > 1:
            per_agg.append((time.perf_counter() - t0) / len(atts))
            per_cpu.append((time.thread_time() - c0) / len(atts))
        del atts, committees
    gc.collect()
    memory = rss_mb() - before
    return {"aggregate_us": statistics.median(per_agg) * 1e6, "aggregate_cpu_us": statistics.median(per_cpu) * 1e6,
            "memory_mb": memory, "per_epoch_b": memory * 2**20 / n / covered,
            "window": window, "aggregates": count, "committee": max(sizes)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", nargs=3, metavar=("N", "EPOCHS", "SPAN"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help=f"N:epochs,... (default {DEFAULT_SIZES})")
    ap.add_argument("--span-epochs", default=DEFAULT_SPANS, help=f"span window per size (default {DEFAULT_SPANS})")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*map(int, args.child))))
        return 0

    sys.path.insert(0, str(HERE.parent))
    from _baseline import ROOT, baseline_tree, run_child

    rev = None if args.no_baseline else os.environ.get("PYBEACON_BENCH_BASELINE", DEFAULT_BASELINE)
    rev = None if rev and rev.lower() in ("", "none") else rev
    base_tree = baseline_tree(rev) if rev else None
    if rev and base_tree is None:
        print(f"baseline {rev}: not available (not a git checkout?), measuring this tree only")
    sizes = [tuple(map(int, s.split(":"))) for s in args.sizes.split(",")]
    spans = [int(s) for s in args.span_epochs.split(",")]
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for (n, epochs), span in zip(sizes, spans + spans[-1:] * len(sizes)):
        now = run_child(HERE, ROOT, [str(n), str(epochs), str(span)])
        base = run_child(HERE, base_tree, [str(n), str(epochs), str(span)]) if base_tree else None
        print(f"{n} validators, {now['aggregates']} aggregates of up to {now['committee']} per epoch, {epochs} epochs:")
        for name, r in (("this tree", now), (f"baseline {rev}", base)):
            if r:
                print(f"  {name:16s} {r['aggregate_us']:8.1f} us per aggregate (CPU {r['aggregate_cpu_us']:.1f})   "
                      f"{r['memory_mb']:8.1f} MB   "
                      f"surrounds up to {r['window']} epochs")
        for key, unit in (("aggregate_us", "us"), ("aggregate_cpu_us", "us"), ("memory_mb", "MB"), ("per_epoch_b", "B"),
                          ("window", "epochs")):
            name = f"slasher_{key.rsplit('_', 1)[0] if key != 'per_epoch_b' else 'bytes_per_validator_epoch'}_{n}"
            print(f"result: {name} {now[key]:.1f} {unit}")
            if base:
                print(f"result: {name}_baseline_{rev} {base[key]:.1f} {unit}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
