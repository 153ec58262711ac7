"""A real node's start from a 300,000-validator mainnet genesis file, to its first slot.

    python benchmarks/node_start.py [--validators N] [--repeat R] [--no-baseline] [--keep]

Issue 14's target: "node start from a 300,000-validator mainnet genesis file (SSZ): <= 30 s to
the first slot". The genesis file (synthetic interop-like validators, beacon.state.epoch.synthetic,
fake pubkeys: a node without validators never decodes them) is written once into the user cache
dir; each run copies it with genesis_time set to the run's start, so the first slot is the one
running when the node is up. Then `pybeacon node --genesis FILE --preset mainnet` runs as an OS
process (p2p on 127.0.0.1 at a free port, no peers, no validators, a fresh datadir), and we time
from starting the process to its log line "first slot N handled" (its slot loop's first tick:
fork-choice on_tick and head update done). The node's peak RSS (VmHWM) and CPU time are read
from /proc at that moment. Then it is stopped (SIGTERM) and started again on the same datadir
(its chain restored from LevelDB; the genesis file is still read and hashed, to check that the
datadir is of its chain): the restart is timed the same way. R runs (--repeat), medians printed.

Baseline (benchmarks/_baseline.py, same run, same file): the baseline revision's node started the
same way, each run right after this tree's. It has no "first slot" line; its "node up at" line comes right before its slot loop,
whose first tick (genesis already past, no blocks) takes no measurable time, so that line is
its first-slot time. This tree's "node up" time is printed beside it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve()
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pybeacon" / "bench"
TIMEOUT = 600.0


def genesis_file(n: int) -> Path:
    """The cached n-validator mainnet genesis SSZ (built with this tree once: ~1 min at 300k)."""
    path = CACHE / f"genesis_mainnet_{n}.ssz"
    if path.exists():
        return path
    sys.path.insert(0, str(HERE.parents[1]))
    from beacon.config import load_config
    from beacon.state.epoch.synthetic import _validators
    from beacon.types import get_types

    cfg = load_config("mainnet")
    t = get_types(cfg)
    print(f"building a {n}-validator mainnet genesis into {path} (once)", flush=True)
    state = t.BeaconState()
    state.genesis_time = 1578009600
    state.fork = t.Fork(previous_version=b"\x00" * 4, current_version=b"\x00" * 4, epoch=0)
    state.latest_block_header = t.BeaconBlockHeader(body_root=t.BeaconBlockBody().hash_tree_root())
    state.eth1_data = t.Eth1Data(deposit_root=b"\x11" * 32, deposit_count=n, block_hash=b"\x42" * 32)
    state.eth1_deposit_index = n
    validators, balances = _validators(cfg, t, n, 0, None)
    state.validators = validators
    state.balances = balances
    state.randao_mixes = [b"\x42" * 32] * cfg.EPOCHS_PER_HISTORICAL_VECTOR
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(state.serialize())
    os.replace(tmp, path)
    return path


def with_genesis_time(src: Path, dest: Path, genesis_time: int) -> None:
    # genesis_time is BeaconState's first field: a little-endian uint64 at offset 0.
    data = bytearray(src.read_bytes())
    data[0:8] = genesis_time.to_bytes(8, "little")
    dest.write_bytes(bytes(data))


def free_port() -> int:
    """A port free for TCP (libp2p) and UDP (discovery uses the same number)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def _proc(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmHWM:"))
    return cpu, hwm


def start_node(tree: Path, genesis: Path, datadir: Path, log_path: Path) -> dict[str, Any]:
    """Start the node of `tree`; times (from the process start) of its "node up" and "first slot"
    lines, its CPU time and peak RSS at the latter (or at "node up" where it has no such line)."""
    port = free_port()
    cmd = [sys.executable, "-m", "beacon.cli", "node", "--genesis", str(genesis), "--preset", "mainnet",
           "--datadir", str(datadir), "--listen-address", "127.0.0.1", "--port", str(port),
           "--http-port", "0", "--metrics-port", "0"]
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONUNBUFFERED="1")
    out: dict[str, Any] = {}
    has_first_slot_line = (tree / "beacon" / "node.py").read_text().count("first slot %d handled") > 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=str(tree), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        with open(log_path, "a") as log:
            for line in proc.stdout:
                log.write(line)
                now = time.perf_counter() - t0
                if "node up at" in line and "up_s" not in out:
                    out["up_s"] = now
                    if not has_first_slot_line:
                        out["first_slot_s"] = now
                        out["cpu_s"], out["peak_rss_mb"] = _proc(proc.pid)
                        done.set()
                elif "first slot" in line and "handled" in line and "first_slot_s" not in out:
                    out["first_slot_s"] = now
                    out["cpu_s"], out["peak_rss_mb"] = _proc(proc.pid)
                    done.set()
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    done.wait(TIMEOUT)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    reader.join(5)
    if "first_slot_s" not in out:
        raise RuntimeError(f"node of {tree} did not reach its first slot; log: {log_path}")
    return out


def measure(tree: Path, src: Path, work: Path, tag: str) -> dict[str, Any]:
    """A fresh start and a restart on its datadir."""
    genesis = work / f"genesis-{tag}.ssz"
    with_genesis_time(src, genesis, int(time.time()))
    datadir = work / f"datadir-{tag}"
    log_path = work / f"node-{tag}.log"
    fresh = start_node(tree, genesis, datadir, log_path)
    restart = start_node(tree, genesis, datadir, log_path)
    return {"fresh": fresh, "restart": restart}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind and figure, the median over the runs (the load moves single runs by 10-20%)."""
    return {kind: {key: statistics.median(r[kind][key] for r in runs) for key in runs[0][kind]}
            for kind in runs[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--validators", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tree, interleaved; medians (default 3)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the datadirs and node logs (printed)")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE.parent))
    from _baseline import ROOT, baseline_rev, baseline_tree

    src = genesis_file(args.validators)
    rev = None if args.no_baseline else baseline_rev()
    base_tree = baseline_tree(rev) if rev else None
    if rev and base_tree is None:
        print(f"baseline {rev}: not available (not a git checkout?), measuring this tree only")
    work = Path(tempfile.mkdtemp(prefix="pybeacon-node-start-"))
    load0 = os.getloadavg()[0]
    try:
        now_runs, base_runs = [], []
        for i in range(max(1, args.repeat)):  # interleaved: both trees see the same load
            now_runs.append(measure(ROOT, src, work, f"now{i}"))
            if base_tree is not None:
                base_runs.append(measure(base_tree, src, work, f"base{i}"))
        now = median_of(now_runs)
        base: Optional[dict[str, Any]] = median_of(base_runs) if base_runs else None
    finally:
        if args.keep:
            print(f"datadirs and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    n = args.validators
    for name, r in (("this tree", now), (f"baseline {rev}", base)):
        if r is None:
            continue
        for kind in ("fresh", "restart"):
            x = r[kind]
            print(f"{name:18} {kind:7}: median of {max(1, args.repeat)}: first slot {x['first_slot_s']:6.1f} s (node up {x.get('up_s', 0):.1f} s), "
                  f"CPU {x['cpu_s']:.1f} s, peak RSS {x['peak_rss_mb']:.0f} MB", flush=True)
    print(f"load average: {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (2 cores, shared)")
    for kind, label in (("fresh", "node_start"), ("restart", "node_restart")):
        tag = f"{label}_mainnet_{n}"
        print(f"result: {tag} {now[kind]['first_slot_s']:.1f} s")
        if base:
            print(f"result: {tag}_baseline_{rev} {base[kind]['first_slot_s']:.1f} s")
        print(f"result: {tag}_cpu {now[kind]['cpu_s']:.1f} s")
        if base:
            print(f"result: {tag}_cpu_baseline_{rev} {base[kind]['cpu_s']:.1f} s")
        print(f"result: {tag}_peak_rss {now[kind]['peak_rss_mb']:.0f} MB")
        if base:
            print(f"result: {tag}_peak_rss_baseline_{rev} {base[kind]['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
