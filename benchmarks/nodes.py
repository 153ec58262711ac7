"""How many pybeacon nodes finalize together on this machine? (issues 13 and 14)

    python benchmarks/nodes.py [--nodes 16] [--baseline-nodes 4] [--per-node 4] [--slot-seconds 6]
                               [--finalized-epoch 4] [--keep DIR]

Runs `pybeacon testnet` (real node processes on 127.0.0.1, static peering in layers:
beacon/testnet/scale.py) with --baseline-nodes nodes first, the same-run baseline, then with
--nodes nodes (a list, e.g. 16,24,32, runs each), every node with --per-node validators. For each
run it prints whether every node finalized the goal epoch, when (from genesis, and against the
ideal: the first slot of epoch goal + 2), and each node's peak RSS and CPU time (the harness
samples /proc at every poll; result.json). `result:` lines per node count N:

    nodes_N_finalized        nodes that reached the goal
    nodes_N_goal_time        seconds from genesis until the last node reached it
    nodes_N_rss_peak_max     the largest node's peak RSS (MB); _rss_peak_sum: all nodes together
    nodes_N_cpu_per_slot     CPU per node per slot (ms), mean over nodes, from slot 1 to the
                             last poll (start-up excluded; from the harness's samples.jsonl)

each with `_baseline_<B>nodes` from the baseline run. Exit status 1 if a run missed its goal.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from beacon.testnet.scale import scale_description  # noqa: E402


def cpu_per_slot(samples: Path, since: float, sps: int) -> list[float]:
    """ms of CPU per slot for each node between its first poll after `since` and its last poll."""
    first: dict[str, tuple[float, float]] = {}
    last: dict[str, tuple[float, float]] = {}
    for line in samples.read_text().splitlines():
        s = json.loads(line)
        if s.get("cpu_s") is None or s["t"] < since:
            continue
        first.setdefault(s["node"], (s["t"], s["cpu_s"]))
        last[s["node"]] = (s["t"], s["cpu_s"])
    return [1000 * (last[n][1] - c0) / ((last[n][0] - t0) / sps) for n, (t0, c0) in first.items()
            if last[n][0] - t0 > sps]


def run(count: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    doc = scale_description(count, args.per_node, seconds_per_slot=args.slot_seconds,
                            finalized_epoch=args.finalized_epoch, genesis_delay=args.genesis_delay)
    spec = work / f"nodes{count}.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = work / f"run{count}"
    print(f"-- {count} nodes x {args.per_node} validators, {args.slot_seconds} s slots, goal epoch "
          f"{args.finalized_epoch}, genesis delay {doc['genesis_delay']:.0f} s; out {out}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "beacon.testnet", str(spec), "--out", str(out)], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True)
    (work / f"run{count}.log").write_text(proc.stdout + proc.stderr)
    result_file = out / doc["name"] / "result.json"
    if not result_file.exists():
        raise RuntimeError(f"{count} nodes: no result.json (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    res = json.loads(result_file.read_text())
    ideal = (args.finalized_epoch + 2) * 8 * args.slot_seconds
    goal = res["goal_times"]
    last = max(goal.values()) - res["genesis_time"] if len(goal) == count else float("nan")
    rss = [n["rss"] for n in res["nodes"].values() if n.get("rss") and n["rss"]["samples"]]
    peaks = [r["peak_mb"] for r in rss]
    cpu = cpu_per_slot(out / doc["name"] / "samples.jsonl", res["genesis_time"] + args.slot_seconds,
                       args.slot_seconds)
    fig = {"count": count, "reached": res["reached"], "reason": res["reason"], "finalized": len(goal),
           "goal_time": last, "ideal": ideal, "rss_peak_max": max(peaks, default=float("nan")),
           "rss_peak_sum": sum(peaks), "rss_peak_mean": statistics.mean(peaks) if peaks else float("nan"),
           "cpu_per_slot": statistics.mean(cpu) if cpu else float("nan"), "problems": res["problems"],
           "report": out / "report.md"}
    print(f"   {'reached' if res['reached'] else 'MISSED'}: {res['reason']}; {len(goal)}/{count} nodes finalized "
          f"epoch {args.finalized_epoch}, the last at {last:.0f} s from genesis (ideal {ideal} s); RSS per node: "
          f"mean {fig['rss_peak_mean']:.0f} MB, max {fig['rss_peak_max']:.0f} MB, all {fig['rss_peak_sum']:.0f} MB; "
          f"CPU {fig['cpu_per_slot']:.0f} ms per node per slot; {len(res['problems'])} problem(s); {fig['report']}",
          flush=True)
    for p in res["problems"][:5]:
        print("   problem: " + p.splitlines()[0][:300])
    return fig


def results(f: dict[str, Any], name: int, suffix: str = "") -> None:
    print(f"result: nodes_{name}_finalized{suffix} {f['finalized']} nodes")
    print(f"result: nodes_{name}_goal_time{suffix} {f['goal_time']:.1f} s")
    print(f"result: nodes_{name}_rss_peak_max{suffix} {f['rss_peak_max']:.0f} MB")
    print(f"result: nodes_{name}_rss_peak_sum{suffix} {f['rss_peak_sum']:.0f} MB")
    print(f"result: nodes_{name}_cpu_per_slot{suffix} {f['cpu_per_slot']:.0f} ms")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", default="16", help="node counts, comma-separated (default 16)")
    p.add_argument("--baseline-nodes", type=int, default=4, help="0: no baseline run (exploring only)")
    p.add_argument("--per-node", type=int, default=4)
    p.add_argument("--slot-seconds", type=int, default=6)
    p.add_argument("--finalized-epoch", type=int, default=4)
    p.add_argument("--genesis-delay", type=float, help="default: 30 s + 1.5 s per node (scale.py)")
    p.add_argument("--keep", type=Path, help="keep the runs here")
    args = p.parse_args()
    counts = [int(c) for c in args.nodes.split(",") if c.strip()]
    work = args.keep or Path(tempfile.mkdtemp(prefix="nodes-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
        print(f"load average at the start: {' '.join(load)}")
    except OSError:
        pass
    base = run(args.baseline_nodes, args, work) if args.baseline_nodes > 0 else None
    figs = [run(c, args, work) for c in counts]
    print()
    for f in figs:
        results(f, f["count"])
        if base is not None:
            results(base, f["count"], f"_baseline_{args.baseline_nodes}nodes")
    return 0 if (base is None or base["reached"]) and all(f["reached"] for f in figs) else 1


if __name__ == "__main__":
    sys.exit(main())
