"""Does one node keep up with its validators' duties? (minimal preset, real process, real time)

    python benchmarks/duties.py [--validators 4096] [--epochs 10] [--slot-seconds 6] [--baseline-epochs 2]

Starts `pybeacon` with N interop validators (quick-start genesis in memory, p2p on, no peers),
lets it run for the given number of epochs, stops it with SIGTERM, and prints:
- duties by kind: assigned / done / declined (slashing protection: v0.8.2 allows one block per
  proposer per epoch) / missed (not done in time) - from the node's own metrics;
- how long after the slot start each duty was published (from the node's log time stamps);
- block import time (the node's histogram);
- what reached the chain: for each epoch, how many validators' attestations were included in
  canonical blocks, and the inclusion delay (read from the stopped node's datadir).

- the node's CPU time per slot and its peak RSS.

Then the same-run baseline: the baseline revision's node (benchmarks/_baseline.py, main 5a8bbb9
by default) with the same validators for --baseline-epochs epochs (0: none), so that both see
the same machine load. `result:` lines: missed duties, p95 attestation and block delay, CPU per
slot, RSS, each with its `_baseline_<rev>`.

Exit status 1 if any duty was missed or an epoch's attestations are missing on chain.
With the defaults this takes about 8.5 + 2.5 minutes, plus reading the chain back.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import _baseline  # noqa: E402


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read()


def parse_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


LINE_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")
PROPOSED = re.compile(r"slot (\d+): proposed block")
ATTESTED = re.compile(r"signed attestation slot (\d+) validators ([\d,]+)")


def delays(log: str, genesis_time: int, sps: int) -> tuple[list[float], list[float]]:
    """Seconds after the slot start at which each block / each validator's attestation was signed."""
    props, atts = [], []
    for line in log.splitlines():
        m = LINE_TIME.match(line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        if p := PROPOSED.search(line):
            props.append(t - (genesis_time + int(p.group(1)) * sps))
        elif a := ATTESTED.search(line):
            atts += [t - (genesis_time + int(a.group(1)) * sps)] * len(a.group(2).split(","))
    return props, atts


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.95 * len(xs)))] if xs else float("nan")


def summary(xs: list[float]) -> str:
    if not xs:
        return "none"
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return f"mean {statistics.mean(xs):.3f} s, p95 {p95:.3f} s, max {xs[-1]:.3f} s (n={len(xs)})"


def on_chain(datadir: Path, validators: int, genesis_time: int, sps: int, epochs: int) -> dict[int, tuple[int, list[int]]]:
    """epoch -> (validators with an included attestation, inclusion delays), from canonical blocks."""
    from beacon.chain import Chain
    from beacon.config import load_config
    from beacon.state import get_attestation_data_slot, get_attesting_indices
    from genesis.state import create_interop_genesis_state

    cfg = load_config("minimal", {"SECONDS_PER_SLOT": sps})
    genesis = create_interop_genesis_state(cfg, validators, genesis_time)
    chain = Chain.open(datadir, genesis, clock=lambda: genesis_time)
    try:
        seen: dict[int, set[int]] = {}
        delay: dict[int, list[int]] = {}
        head = chain.head.slot
        for block in chain.get_blocks_by_range(1, head):
            state = chain.state_at_block(block.signing_root())
            for att in block.body.attestations:
                e = int(att.data.target.epoch)
                who = get_attesting_indices(state, att.data, att.aggregation_bits)
                new = set(who) - seen.setdefault(e, set())
                seen[e] |= new
                delay.setdefault(e, []).extend([int(block.slot) - get_attestation_data_slot(state, att.data)] * len(new))
        return {e: (len(seen.get(e, ())), delay.get(e, [])) for e in range(epochs)}
    finally:
        chain.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (/proc/<pid>/stat), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run_node(tree: Path, work: Path, validators: int, epochs: int, sps: int, genesis_delay: float,
             log_level: str = "debug") -> dict[str, Any]:
    """Run the node of source tree `tree` for `epochs` epochs; its figures."""
    spe = 8  # minimal
    work.mkdir(parents=True, exist_ok=True)
    cfg_file = work / "config.yaml"
    cfg_file.write_text(f"SECONDS_PER_SLOT: {sps}\n")
    genesis_time = int(time.time() + genesis_delay)
    p2p, http, metrics = free_ports(3)
    log_path = work / "node.log"
    cmd = [sys.executable, "-m", "beacon.cli", "--interop-validators", str(validators),
           "--interop-genesis-time", str(genesis_time), "--validators", f"0:{validators}",
           "--config", str(cfg_file), "--datadir", str(work / "datadir"), "--listen-address", "127.0.0.1",
           "--port", str(p2p), "--http-port", str(http), "--metrics-port", str(metrics), "--log-level", log_level]
    env = dict(os.environ, PYTHONPATH=str(tree))
    end_slot = epochs * spe  # run until the first slot after the last epoch has started
    print(f"{tree}: {validators} validators, {sps} s slots, {epochs} epochs "
          f"(~{(end_slot * sps + genesis_delay) / 60:.1f} min); work dir {work}", flush=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tree)
    peak_rss = 0
    cpu_at: dict[int, float] = {}  # wall slot -> node CPU seconds when it was first seen
    try:
        last_epoch = -1
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"node exited with {proc.returncode}; see {log_path}")
            peak_rss = max(peak_rss, rss_kb(proc.pid))
            wall = int((time.time() - genesis_time) // sps)
            if wall >= 0:
                cpu_at.setdefault(wall, cpu_seconds(proc.pid))
            try:
                st = json.loads(get(http, "/node/status"))
            except OSError:
                time.sleep(0.5)
                continue
            if wall // spe != last_epoch and wall >= 0:
                last_epoch = wall // spe
                print(f"  epoch {last_epoch}: head slot {st['head']['slot']}, justified {st['justified']['epoch']}, "
                      f"finalized {st['finalized']['epoch']}, RSS {peak_rss / 1024:.0f} MB", flush=True)
            if wall >= end_slot:
                break
            time.sleep(1)
        # Let the last slot's attestations be signed before reading the counters.
        time.sleep(sps * 0.7)
        m = parse_metrics(get(metrics, "/metrics").decode())
        slots_run = int((time.time() - genesis_time) // sps) + 1  # slots 0..now
        st = json.loads(get(http, "/node/status"))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    # CPU per slot from slot 1 on (slot 0 still holds the start-up) to the last slot seen.
    seen = sorted(s for s in cpu_at if s >= 1)
    cpu_per_slot = ((cpu_at[seen[-1]] - cpu_at[seen[0]]) / (seen[-1] - seen[0])) if len(seen) > 1 else float("nan")
    log_text = log_path.read_text(errors="replace")
    prop_delays, att_delays = delays(log_text, genesis_time, sps)
    duties = {}
    for kind in ("proposal", "attestation"):
        duties[kind] = tuple(int(m.get(f'pybeacon_duties_{what}{{kind="{kind}"}}', 0))
                             for what in ("total", "missed_total", "declined_total"))
    return {"genesis_time": genesis_time, "slots_run": slots_run, "status": st, "metrics": m, "duties": duties,
            "prop_delays": prop_delays, "att_delays": att_delays, "peak_rss_kb": peak_rss,
            "cpu_per_slot": cpu_per_slot, "log": log_path}


def print_run(r: dict[str, Any], validators: int, sps: int) -> int:
    """The human-readable figures of one run; returns the missed duties."""
    m, st = r["metrics"], r["status"]
    missed = 0
    print(f"\nduties over {r['slots_run']} slots (0..{r['slots_run'] - 1}) with {validators} validators, {sps} s slots:")
    for kind, (total, miss, decl) in r["duties"].items():
        missed += miss
        print(f"  {kind + 's':13} {total:5} assigned, {total - miss - decl:5} done, {decl:3} declined, {miss:3} missed")
    print(f"  signed after the slot start: blocks {summary(r['prop_delays'])}")
    print(f"                         attestations {summary(r['att_delays'])}")
    n = m.get("pybeacon_block_import_seconds_count", 0)
    if n:
        print(f"  block import: mean {1000 * m['pybeacon_block_import_seconds_sum'] / n:.1f} ms over {int(n)} blocks")
    print(f"  node CPU {1000 * r['cpu_per_slot']:.0f} ms per slot; peak RSS {r['peak_rss_kb'] / 1024:.0f} MB")
    print(f"  head slot {st['head']['slot']}, justified epoch {st['justified']['epoch']}, "
          f"finalized epoch {st['finalized']['epoch']}")
    if m.get('pybeacon_duties_declined_total{kind="proposal"}', 0):
        print("  (declined proposals: the proposer already signed a block in that epoch; "
              "v0.8.2 slashes two blocks of one proposer in one epoch)")
    return missed


def results(r: dict[str, Any], validators: int, suffix: str = "") -> None:
    v = validators
    missed = sum(miss for _, miss, _ in r["duties"].values())
    print(f"result: duties_{v}_missed{suffix} {missed} duties")
    print(f"result: duties_{v}_attestation_delay_p95{suffix} {p95(r['att_delays']):.3f} s")
    print(f"result: duties_{v}_block_delay_p95{suffix} {p95(r['prop_delays']):.3f} s")
    print(f"result: duties_{v}_node_cpu_per_slot{suffix} {1000 * r['cpu_per_slot']:.0f} ms")
    print(f"result: duties_{v}_node_peak_rss{suffix} {r['peak_rss_kb'] / 1024:.0f} MB")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validators", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--slot-seconds", type=int, default=6)
    p.add_argument("--genesis-delay", type=float,
                   help="seconds from the start to genesis (default 10 + 1 s per 128 validators: the node "
                        "derives every key and builds the genesis state before it is up)")
    p.add_argument("--baseline-epochs", type=int, default=2, help="epochs of the baseline revision's run (0: none)")
    p.add_argument("--keep", type=Path, help="keep the datadirs and logs here")
    args = p.parse_args()
    sps, n = args.slot_seconds, args.validators
    delay = args.genesis_delay if args.genesis_delay is not None else 10 + n / 128
    work = args.keep or Path(tempfile.mkdtemp(prefix="duties-"))
    r = run_node(REPO, work / "tree", n, args.epochs, sps, delay)
    missed = print_run(r, n, sps)
    incomplete = 0
    print("  attestations included on chain, by target epoch (validators / inclusion delay in slots):")
    for e, (count, dl) in on_chain(work / "tree" / "datadir", n, r["genesis_time"], sps, args.epochs - 1).items():
        mean = f"{statistics.mean(dl):.2f}" if dl else "-"
        print(f"    epoch {e:3}: {count:4}/{n}  mean delay {mean}")
        incomplete += count < n
    ok = missed == 0 and incomplete == 0
    print(f"\n{'kept up' if ok else 'did NOT keep up'} ({missed} duties missed, "
          f"{incomplete} epochs with attestations missing on chain); log {r['log']}")

    base = None
    rev = _baseline.baseline_rev()
    tree = _baseline.baseline_tree(rev) if rev and args.baseline_epochs > 0 else None
    if tree is not None:
        print(f"\nbaseline {rev}: the same {n} validators for {args.baseline_epochs} epochs", flush=True)
        try:
            base = run_node(tree, work / f"baseline-{rev}", n, args.baseline_epochs, sps, delay)
            print_run(base, n, sps)
        except (RuntimeError, OSError) as e:
            print(f"baseline run failed: {e}")
    print()
    results(r, n)
    if base is not None:
        results(base, n, f"_baseline_{rev}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
