"""Does one node keep up with its validators' duties? (minimal preset, real process, real time)

    python benchmarks/duties.py [--validators 64] [--epochs 10] [--slot-seconds 6]

Starts `pybeacon` with N interop validators (quick-start genesis in memory, p2p on, no peers),
lets it run for the given number of epochs, stops it with SIGTERM, and prints:
- duties by kind: assigned / done / declined (slashing protection: v0.8.2 allows one block per
  proposer per epoch) / missed (not done in time) - from the node's own metrics;
- how long after the slot start each duty was published (from the node's log time stamps);
- block import time (the node's histogram);
- what reached the chain: for each epoch, how many validators' attestations were included in
  canonical blocks, and the inclusion delay (read from the stopped node's datadir).

Exit status 1 if any duty was missed or an epoch's attestations are missing on chain.
With the defaults this takes about 8.5 minutes.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--validators", type=int, default=64)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--slot-seconds", type=int, default=6)
    p.add_argument("--keep", type=Path, help="keep the datadir and log here")
    args = p.parse_args()
    spe = 8  # minimal
    work = args.keep or Path(tempfile.mkdtemp(prefix="duties-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg_file = work / "config.yaml"
    cfg_file.write_text(f"SECONDS_PER_SLOT: {args.slot_seconds}\n")
    genesis_time = int(time.time()) + 10
    p2p, http, metrics = free_ports(3)
    log_path = work / "node.log"
    cmd = [sys.executable, "-m", "beacon.cli", "--interop-validators", str(args.validators),
           "--interop-genesis-time", str(genesis_time), "--validators", f"0:{args.validators}",
           "--config", str(cfg_file), "--datadir", str(work / "datadir"), "--listen-address", "127.0.0.1",
           "--port", str(p2p), "--http-port", str(http), "--metrics-port", str(metrics), "--log-level", "debug"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    end_slot = args.epochs * spe  # run until the first slot after the last epoch has started
    print(f"{args.validators} validators, {args.slot_seconds} s slots, {args.epochs} epochs "
          f"(~{(end_slot * args.slot_seconds + 15) / 60:.1f} min); work dir {work}", flush=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        last_epoch = -1
        while True:
            if proc.poll() is not None:
                print(f"node exited with {proc.returncode}; see {log_path}")
                return 1
            try:
                st = json.loads(get(http, "/node/status"))
            except OSError:
                time.sleep(0.5)
                continue
            wall = int((time.time() - genesis_time) // args.slot_seconds)
            if wall // spe != last_epoch and wall >= 0:
                last_epoch = wall // spe
                print(f"  epoch {last_epoch}: head slot {st['head']['slot']}, justified {st['justified']['epoch']}, "
                      f"finalized {st['finalized']['epoch']}", flush=True)
            if wall >= end_slot:
                break
            time.sleep(1)
        # Let the last slot's attestations be signed before reading the counters.
        time.sleep(args.slot_seconds * 0.7)
        m = parse_metrics(get(metrics, "/metrics").decode())
        slots_run = int((time.time() - genesis_time) // args.slot_seconds) + 1  # slots 0..now
        st = json.loads(get(http, "/node/status"))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    log = log_path.read_text(errors="replace")
    prop_delays, att_delays = delays(log, genesis_time, args.slot_seconds)

    missed = 0
    print(f"\nduties over {slots_run} slots (0..{slots_run - 1}) with {args.validators} validators, "
          f"{args.slot_seconds} s slots:")
    for kind in ("proposal", "attestation"):
        total = m.get(f'pybeacon_duties_total{{kind="{kind}"}}', 0)
        miss = m.get(f'pybeacon_duties_missed_total{{kind="{kind}"}}', 0)
        decl = m.get(f'pybeacon_duties_declined_total{{kind="{kind}"}}', 0)
        missed += int(miss)
        print(f"  {kind + 's':13} {int(total):5} assigned, {int(total - miss - decl):5} done, "
              f"{int(decl):3} declined, {int(miss):3} missed")
    print(f"  signed after the slot start: blocks {summary(prop_delays)}")
    print(f"                         attestations {summary(att_delays)}")
    n = m.get("pybeacon_block_import_seconds_count", 0)
    if n:
        print(f"  block import: mean {1000 * m['pybeacon_block_import_seconds_sum'] / n:.1f} ms over {int(n)} blocks")
    print(f"  head slot {st['head']['slot']}, justified epoch {st['justified']['epoch']}, "
          f"finalized epoch {st['finalized']['epoch']}")
    declined_note = ("  (declined proposals: the proposer already signed a block in that epoch; "
                     "v0.8.2 slashes two blocks of one proposer in one epoch)")
    if m.get('pybeacon_duties_declined_total{kind="proposal"}', 0):
        print(declined_note)

    incomplete = 0
    print("  attestations included on chain, by target epoch (validators / inclusion delay in slots):")
    for e, (count, dl) in on_chain(work / "datadir", args.validators, genesis_time, args.slot_seconds,
                                   args.epochs - 1).items():
        mean = f"{statistics.mean(dl):.2f}" if dl else "-"
        print(f"    epoch {e:3}: {count:3}/{args.validators}  mean delay {mean}")
        incomplete += count < args.validators
    ok = missed == 0 and incomplete == 0
    print(f"\nresult: {'kept up' if ok else 'did NOT keep up'} ({missed} duties missed, "
          f"{incomplete} epochs with attestations missing on chain); log {log_path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
