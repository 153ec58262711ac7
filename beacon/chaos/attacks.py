"""Every `chaos peer` attack against a 2-node pybeacon testnet, with a search over rates.

Node A runs all validators, node B follows it; the attacker (a separate process) targets A,
the node whose slots must not slip. For each attack and rate (rising, stopping at the
first failure) we record, while the attack runs: A's head lag behind the wall clock, B's
agreement with A, A's CPU% and RSS (from /proc), and what the node did to the attacker
(Goodbye, ban). "On time": A's head is never more than one slot behind the wall clock during
the attack, and B holds A's head within a slot at the end.

    python -m beacon.chaos.attacks --out runs/attacks [--attacks a,b] [--rates 1,4,16] [--seconds 10]
Ends with `result:` lines (one per attack, plus the no-attack baseline of the same run).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from beacon.chaos.peer import ATTACKS
from beacon.chaos.procs import REPO, Node, ProcStat, child_env, make_testnet_files

DEFAULT_RATES = (1, 4, 16, 64, 256)


@dataclass
class Trial:
    attack: str
    rate: float
    on_time: bool = False
    max_lag: int = 0  # slots A's head was behind the wall clock, worst sample
    b_agrees: bool = False
    cpu_mean: float = 0.0
    cpu_peak: float = 0.0
    rss_peak_mb: float = 0.0
    attacker: dict = field(default_factory=dict)
    node_alive: bool = True
    # Node side, from A's debug log: after A dropped the attacker, how many connections it
    # made again and the longest time (s) one of them stayed open (a ban closes each at once).
    reconnects: int = 0
    reconnect_held: float = 0.0
    log_lines: list[str] = field(default_factory=list)  # what A logged about the attacker


_STAMP = r"^\S+ (\d\d):(\d\d):(\d\d\.\d+) "


def _seconds(line: str) -> float | None:
    m = re.match(_STAMP, line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None


def reconnects_after_drop(log_text: str) -> tuple[int, float]:
    """From the node's debug log: after its first "dropping peer X", the connections X made
    again and the longest one lasted (connection opened -> "Closing SwarmConn" for X)."""
    m = re.search(r"dropping peer (\S+):", log_text)
    if m is None:
        return 0, 0.0
    peer = m.group(1)
    after = log_text[m.end():]
    opened: float | None = None
    count, longest = 0, 0.0
    last_t = 0.0
    for line in after.splitlines():
        if peer not in line:
            continue
        t = _seconds(line)
        if t is None:
            continue
        last_t = t
        if f"connection inbound {peer}" in line:
            count += 1
            opened = t if opened is None else opened
        elif "Closing SwarmConn" in line and opened is not None:
            longest = max(longest, t - opened)
            opened = None
    if opened is not None:
        longest = max(longest, last_t - opened)
    return count, round(longest, 2)


class Bench:
    def __init__(self, out: Path, slot_seconds: float, validators: int = 16) -> None:
        self.out = out
        self.slot = slot_seconds
        cfg, genesis, self.genesis_time = make_testnet_files(out, slot_seconds, validators, delay=10)
        self.cfg, self.genesis = cfg, genesis
        common = ["--genesis", str(genesis), "--config", str(cfg)]
        self.a = Node("a", out, [*common, "--validators", f"0:{validators}"]).start()
        self.a_addr = self.a.multiaddr()
        self.b = Node("b", out, [*common, "--peer", self.a_addr]).start()
        self.b.multiaddr()

    def wall_slot(self) -> int:
        return int((time.time() - self.genesis_time) // self.slot)

    def close(self) -> None:
        self.b.stop()
        self.a.stop()

    def warm_up(self, slots: int) -> None:
        self.a.wait_for(lambda s: s["head"]["slot"] >= slots, self.genesis_time - time.time() + slots * self.slot + 60,
                        f"head slot {slots}")

    def measure(self, seconds: float, attacker: Optional[subprocess.Popen], trial: Trial) -> None:
        assert self.a.proc is not None
        stat = ProcStat(self.a.proc.pid)
        stat.sample()
        cpus: list[float] = []
        t_end = time.monotonic() + seconds
        first_wall = self.wall_slot()
        while time.monotonic() < t_end or (attacker is not None and attacker.poll() is None
                                           and time.monotonic() < t_end + 60):
            time.sleep(0.5)
            if not self.a.alive():
                trial.node_alive = False
                break
            try:
                cpu, _rss = stat.sample()
            except OSError:
                trial.node_alive = False
                break
            cpus.append(cpu)
            st = self.a.status()
            wall = self.wall_slot()
            if st is not None and wall > first_wall:
                trial.max_lag = max(trial.max_lag, wall - st["head"]["slot"])
        trial.cpu_mean = round(sum(cpus) / len(cpus), 1) if cpus else 0.0
        trial.cpu_peak = round(stat.peak_cpu, 1)
        trial.rss_peak_mb = round(stat.peak_rss / 2**20, 1)
        sa, sb = self.a.status(), self.b.status()
        trial.b_agrees = bool(sa and sb and abs(sa["head"]["slot"] - sb["head"]["slot"]) <= 1)
        trial.on_time = trial.node_alive and trial.max_lag <= 1 and trial.b_agrees

    def attack(self, name: str, rate: float, seconds: float) -> Trial:
        trial = Trial(name, rate)
        log_before = len(self.a.log)
        cmd = [sys.executable, "-m", "beacon.cli", "chaos", "peer", self.a_addr, "--attack", name, "--rate", str(rate),
               "--seconds", str(seconds), "--genesis", str(self.genesis), "--config", str(self.cfg)]
        attacker = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env(),
                                    cwd=REPO)
        self.measure(seconds + 4, attacker, trial)  # ~4 s to connect and prepare
        try:
            out, _ = attacker.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            attacker.kill()
            out, _ = attacker.communicate()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        trial.attacker = json.loads(lines[-1]) if lines else {"error": out[-400:]}
        new_log = self.a.log[log_before:]
        trial.reconnects, trial.reconnect_held = reconnects_after_drop(new_log)
        trial.log_lines = [line for line in new_log.splitlines()
                           if "dropping peer" in line or "Traceback" in line or " ERROR " in line][:5]
        return trial

    def recover(self, timeout: float = 60) -> bool:
        """Wait until A's head is back at the wall clock (between trials)."""
        try:
            self.a.wait_for(lambda s: self.wall_slot() - s["head"]["slot"] <= 1, timeout, "head back on time")
            return True
        except RuntimeError:
            return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m beacon.chaos.attacks", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/attacks"))
    p.add_argument("--attacks", default=",".join(ATTACKS))
    p.add_argument("--rates", default=",".join(str(r) for r in DEFAULT_RATES))
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--slot-seconds", type=float, default=2.0)
    args = p.parse_args(argv)
    names = [a for a in args.attacks.split(",") if a]
    unknown = [a for a in names if a not in ATTACKS]
    if unknown:
        p.error(f"unknown attacks {unknown}; known: {', '.join(ATTACKS)}")
    rates = [float(r) for r in args.rates.split(",")]
    if args.out.exists():
        shutil.rmtree(args.out)  # a fresh testnet every run
    args.out.mkdir(parents=True)
    bench = Bench(args.out, args.slot_seconds)
    results: list[Trial] = []
    try:
        bench.warm_up(4)
        base = Trial("none", 0)
        bench.measure(args.seconds, None, base)
        results.append(base)
        print(f"baseline: cpu {base.cpu_mean}% rss {base.rss_peak_mb} MB lag {base.max_lag}", flush=True)
        for name in names:
            for rate in rates:
                bench.recover()
                t = bench.attack(name, rate, args.seconds)
                results.append(t)
                a = t.attacker
                print(f"{name} rate {rate:g}: on_time {t.on_time} lag {t.max_lag} cpu {t.cpu_mean}/{t.cpu_peak}% "
                      f"rss {t.rss_peak_mb} MB; reconnects {t.reconnects} held <= {t.reconnect_held}s; sent {a.get('sent')} failed {a.get('failed')} goodbyes "
                      f"{a.get('goodbyes')} disconnected {a.get('disconnected_after')} banned {a.get('banned')} "
                      f"{a.get('error', '')}{a.get('notes', '')}", flush=True)
                if not t.node_alive:
                    raise SystemExit("node A died")
                if not t.on_time:
                    break
    finally:
        bench.close()
        (args.out / "results.json").write_text(json.dumps([t.__dict__ for t in results], indent=1))
    print(f"result: baseline_cpu {results[0].cpu_mean} percent")
    print(f"result: baseline_rss {results[0].rss_peak_mb} MB")
    for name in names:
        ok = [t.rate for t in results if t.attack == name and t.on_time]
        print(f"result: {name}_max_rate_on_time {max(ok) if ok else 0:g} per_s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
