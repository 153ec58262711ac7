"""How the epoch transition and state loading grow with the validator count: 16k, 65k, 300k.

    python benchmarks/epoch_scale.py [--sizes minimal:16384,mainnet:16384,...] [--repeat R]
                                     [--plot PATH] [--no-baseline]

Each size runs in its own process (so its RSS is its own), once with this tree and once with
the baseline revision (benchmarks/_baseline.py: main when issue 14 was filed), back to back, so
both figures see the same machine load. Per size:
  epoch       process_epoch on a warm copy (committees of the previous and current epoch
              cached, as on a node that processed the epoch's blocks), full participation
              (beacon.state.epoch.synthetic), median and best of R wall time, and the median
              CPU time of the process (the figure least disturbed by a shared machine's load)
  state RSS   resident memory of the built and hashed state (VmRSS after minus before)
  load        the state written as SSZ to a file, then read + decoded + hash_tree_root +
              the proposer of its next slot (the first thing a node starting from that file
              computes: active set and shuffle); a node's start adds its database and network
Targets (issue 14): epoch <= 25 ms minimal / <= 50 ms mainnet at 16,384; <= 1 s at 300,000
mainnet; load <= 30 s at 300,000.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
DEFAULT_SIZES = "minimal:16384,mainnet:16384,mainnet:65536,mainnet:300000"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(preset: str, n: int, repeat: int) -> dict[str, Any]:
    """Runs in a subprocess with PYTHONPATH at the tree being measured."""
    sys.path.insert(0, os.environ.get("PYBEACON_BENCH_TREE", str(HERE.parents[1])))
    import gc

    from beacon.config import load_config
    from beacon.state import shuffle
    from beacon.state.accessors import (
        get_beacon_proposer_index, get_committee_count, get_crosslink_committee, get_current_epoch,
        get_previous_epoch, get_start_shard, get_total_active_balance,
    )
    from beacon.state.epoch import process_epoch
    from beacon.state.epoch.synthetic import build_epoch_state
    from beacon.state.slots import process_slots

    def warm_copy(state: Any) -> Any:
        s = state.copy()
        s._cache = None
        shuffle.clear()
        for epoch in (get_previous_epoch(s), get_current_epoch(s)):
            start = get_start_shard(s, epoch)
            for offset in range(get_committee_count(s, epoch)):
                get_crosslink_committee(s, epoch, (start + offset) % s.config.SHARD_COUNT)
        get_total_active_balance(s)
        return s

    cfg = load_config(preset)
    gc.collect()
    rss0 = _rss_mb()
    t = time.perf_counter()
    state = build_epoch_state(cfg, n, full=True)
    state.hash_tree_root()
    build = time.perf_counter() - t
    gc.collect()
    state_rss = _rss_mb() - rss0

    out: dict[str, Any] = {"preset": preset, "n": n, "build_s": build, "state_rss_mb": state_rss}
    try:  # whether the C Merkle-layer hasher is built (older trees have none, or no roots module)
        from beacon.state import roots
        out["native_hashing"] = bool(getattr(roots, "NATIVE_HASHING", False))
    except ImportError:
        out["native_hashing"] = False
    with tempfile.NamedTemporaryFile(suffix=".ssz") as f:
        f.write(state.serialize())
        f.flush()
        out["ssz_mb"] = os.path.getsize(f.name) / 2**20
        t = time.perf_counter()
        data = Path(f.name).read_bytes()
        loaded = type(state).deserialize(data)
        loaded.hash_tree_root()
        work = loaded.copy()
        process_slots(work, loaded.slot + 1)  # the node's first slot: an epoch boundary here
        get_beacon_proposer_index(work)
        out["load_s"] = time.perf_counter() - t
        del loaded, work, data
    gc.collect()

    times, cpu = [], []
    for _ in range(repeat):
        s = warm_copy(state)
        t, c = time.perf_counter(), time.process_time()
        process_epoch(s)
        cpu.append(time.process_time() - c)
        times.append(time.perf_counter() - t)
        del s
        gc.collect()
    out["epoch_s"] = statistics.median(times)
    out["epoch_best_s"] = min(times)
    # CPU time of this process: much less sensitive to other processes' load than wall time.
    out["epoch_cpu_s"] = statistics.median(cpu)
    with open("/proc/self/status") as f:
        out["peak_rss_mb"] = next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmHWM:"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", nargs=3, metavar=("PRESET", "N", "REPEAT"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help=f"preset:N,... (default {DEFAULT_SIZES})")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--plot", default=None, help="write a PNG of epoch and load time against N here "
                    "(and the figures beside it as .json)")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    if args.child:
        preset, n, repeat = args.child
        print(json.dumps(child(preset, int(n), int(repeat))))
        return 0

    sys.path.insert(0, str(HERE.parent))
    from _baseline import ROOT, baseline_rev, baseline_tree, run_child

    rev = None if args.no_baseline else baseline_rev()
    base_tree = baseline_tree(rev) if rev else None
    if rev and base_tree is None:
        print(f"baseline {rev}: not available (not a git checkout?), measuring this tree only")
    sizes = [(p, int(n)) for p, n in (s.split(":") for s in args.sizes.split(","))]
    rows = []
    for preset, n in sizes:
        row = {"now": run_child(HERE, ROOT, [preset, str(n), str(args.repeat)])}
        if base_tree is not None:
            row["base"] = run_child(HERE, base_tree, [preset, str(n), str(max(1, args.repeat if n < 100000 else 1))])
        rows.append(row)
        now, base = row["now"], row.get("base")
        extra = (f" | baseline {rev}: epoch {base['epoch_s'] * 1e3:.1f} ms (CPU {base['epoch_cpu_s'] * 1e3:.1f}), "
                 f"load {base['load_s']:.2f} s, "
                 f"state {base['state_rss_mb']:.0f} MB") if base else ""
        print(f"{preset:8} {n:>7}: epoch {now['epoch_s'] * 1e3:8.1f} ms (best {now['epoch_best_s'] * 1e3:.1f}, "
              f"CPU {now['epoch_cpu_s'] * 1e3:.1f}), "
              f"load {now['load_s']:6.2f} s, state {now['state_rss_mb']:5.0f} MB, SSZ {now['ssz_mb']:.0f} MB, "
              f"peak {now['peak_rss_mb']:.0f} MB, C hasher {'on' if now.get('native_hashing') else 'off'}{extra}",
              flush=True)

    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    for row in rows:
        now, base = row["now"], row.get("base")
        tag = f"{now['preset']}_{now['n']}"
        print(f"result: epoch_{tag} {now['epoch_s'] * 1e3:.1f} ms")
        if base:
            print(f"result: epoch_{tag}_baseline_{rev} {base['epoch_s'] * 1e3:.1f} ms")
        print(f"result: epoch_cpu_{tag} {now['epoch_cpu_s'] * 1e3:.1f} ms")
        if base:
            print(f"result: epoch_cpu_{tag}_baseline_{rev} {base['epoch_cpu_s'] * 1e3:.1f} ms")
        print(f"result: epoch_best_{tag} {now['epoch_best_s'] * 1e3:.1f} ms")
        if base:
            print(f"result: epoch_best_{tag}_baseline_{rev} {base['epoch_best_s'] * 1e3:.1f} ms")
        print(f"result: state_load_{tag} {now['load_s']:.2f} s")
        if base:
            print(f"result: state_load_{tag}_baseline_{rev} {base['load_s']:.2f} s")
        print(f"result: state_rss_{tag} {now['state_rss_mb']:.0f} MB")
    if args.plot:
        Path(args.plot).with_suffix(".json").write_text(json.dumps({"baseline": rev, "rows": rows}, indent=1))
        plot(rows, rev, Path(args.plot))
    return 0


def plot(rows: list[dict[str, Any]], rev: str | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    mainnet = [r for r in rows if r["now"]["preset"] == "mainnet"]
    ns = [r["now"]["n"] for r in mainnet]
    ax1.plot(ns, [r["now"]["epoch_s"] for r in mainnet], "o-", label="this tree")
    if all("base" in r for r in mainnet) and mainnet:
        ax1.plot(ns, [r["base"]["epoch_s"] for r in mainnet], "s--", label=f"baseline {rev}")
    ax1.plot(ns, [r["now"].get("epoch_cpu_s", float("nan")) for r in mainnet], "^:", label="this tree, CPU time")
    ax1.axhline(1.0, color="grey", lw=0.8, ls=":", label="target at 300k: 1 s")
    ax1.set(xscale="log", yscale="log", xlabel="validators", ylabel="process_epoch (s)",
            title="epoch transition, mainnet, full participation")
    ax1.legend()
    ax2.plot(ns, [r["now"]["load_s"] for r in mainnet], "o-", label="load (s)")
    ax2.plot(ns, [r["now"]["state_rss_mb"] / 1000 for r in mainnet], "^-", label="state RSS (GB)")
    ax2.set(xscale="log", xlabel="validators", title="state load from SSZ, and memory")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.set_xticks(ns, [f"{n // 1000}k" for n in ns])
        ax.minorticks_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
