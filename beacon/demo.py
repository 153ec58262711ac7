"""Interop exercise 2 in one command (what `make run` runs).

    python -m beacon.demo [--slot-seconds 2] [--finalized-epoch 8] [--genesis-delay 15] [--out DIR]

Exercise 2 (exercises/ex2.yaml): a 16-validator quick-start genesis a few seconds ahead; node
A runs all validators, node B none and is A's static peer; both are separate processes on
127.0.0.1. The goal: B sees the target epoch finalized. The testnet harness (`pybeacon
testnet`) does the running: it writes the genesis, starts A and B, prints both nodes' progress
every second, stops both with SIGTERM once the goal is reached (or the time limit passes) and
writes a report. Here we only take ex2 as written and set the slot time and target epoch.

Exit status: 0 the goal was reached, 1 it was not, 2 bad usage, 130 interrupted.
"""
from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Sequence

import yaml

EXERCISE = Path(__file__).resolve().parents[1] / "exercises" / "ex2.yaml"


def build_description(slot_seconds: int, finalized_epoch: int, genesis_delay: int) -> dict:
    spec = yaml.safe_load(EXERCISE.read_text())
    spec["name"] = "ex2-run"
    spec["config"] = dict(spec.get("config") or {}, SECONDS_PER_SLOT=slot_seconds)
    spec["genesis_delay"] = genesis_delay
    spec["goal"] = dict(spec["goal"], finalized_epoch=finalized_epoch)
    # Epoch E is finalized at the start of epoch E+2 at best; allow twice that, plus start-up.
    slots = (finalized_epoch + 2) * 8
    spec["time_limit"] = f"{genesis_delay + 2 * slots * slot_seconds + 60}s"
    return spec


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m beacon.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--slot-seconds", type=int, default=2, help="SECONDS_PER_SLOT (default 2)")
    p.add_argument("--finalized-epoch", type=int, default=8, help="goal: B sees this epoch finalized (default 8)")
    p.add_argument("--genesis-delay", type=int, default=15, help="genesis this many seconds after start (default 15)")
    p.add_argument("--out", type=Path, help="output directory (default runs/ex2-<UTC time>)")
    args = p.parse_args(argv)
    if args.slot_seconds < 1 or args.finalized_epoch < 1 or args.genesis_delay < 5:
        print("beacon.demo: need --slot-seconds >= 1, --finalized-epoch >= 1, --genesis-delay >= 5", file=sys.stderr)
        return 2
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or Path("runs") / f"ex2-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    description = out / "ex2-run.yaml"
    description.write_text(yaml.safe_dump(build_description(args.slot_seconds, args.finalized_epoch,
                                                            args.genesis_delay), sort_keys=False))
    print(f"interop exercise 2: A (validators 0..15) and B (no validators, static peer of A), "
          f"{args.slot_seconds} s slots, goal: B sees epoch {args.finalized_epoch} finalized; output in {out}",
          flush=True)
    from beacon.cli import main as pybeacon

    return pybeacon(["testnet", str(description), "--out", str(out)])


if __name__ == "__main__":
    sys.exit(main())
