"""Pair pybeacon with another client through the interop exercises, in both roles.

    python -m beacon.testnet.pair trinity --out runs/pair-trinity        # `make pair-trinity`

Runs exercises 1, 2 and 4 with the peer in role A (pybeacon B) and in role B (pybeacon A), then
the late joiner (pybeacon starts 3 epochs late on the peer's chain), one after another, each
into OUT/<run>/ with its own report.md, and writes OUT/summary.md. A run passes when its goal
is reached and no finalized epoch has two roots. Exit status 0 only if every run passed; 2 when
the peer is not installed (with the one-line hint) or cannot run an exercise.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import shutil
import sys
from pathlib import Path

from beacon.testnet import catalog, cli
from beacon.testnet.report import finality_conflicts, forks
from beacon.testnet.runner import Sample
from beacon.testnet.spec import SpecError, load_spec

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
PEERED_HOLD = 60.0  # seconds exercise 1's connection must hold


@dataclasses.dataclass
class PairRun:
    label: str  # e.g. ex2-pybeacon-B
    exercise: str  # file stem under exercises/
    peer_role: str  # the role the peer client plays

    @property
    def pybeacon_role(self) -> str:
        return "B" if self.peer_role == "A" else "A"


def plan() -> list[PairRun]:
    runs = [PairRun(f"{ex}-pybeacon-{mine}", ex, "B" if mine == "A" else "A")
            for ex in ("ex1", "ex2", "ex4") for mine in ("A", "B")]
    # The late joiner is B: pybeacon joins the peer's running chain.
    runs.append(PairRun("late-pybeacon-B", "late", "A"))
    return runs


def time_limit(goal_epoch: int, genesis_delay: float) -> float:
    """Room for the goal epoch to finalize (two epochs after it) plus half again, at 6 s x 8 slots."""
    return genesis_delay + 1.5 * (goal_epoch + 3) * 48 + 60


def harness_args(run: PairRun, peer: str, out: Path, goal_epoch: int) -> list[str]:
    path = EXERCISES / f"{run.exercise}.yaml"
    args = [str(path), f"--client-{run.peer_role.lower()}", peer, "--out", str(out / run.label)]
    spec = load_spec(path)
    if spec.goal.finalized_epoch is not None:
        # The description's own delay: the harness adds what the peer's start-up needs beyond it.
        args += ["--finalized-epoch", str(goal_epoch),
                 "--time-limit", f"{time_limit(goal_epoch, spec.genesis_delay):.0f}s"]
    if spec.goal.peered:
        # Connected is not enough: the connection must outlive a Hello wait (15 s in pybeacon)
        # and the first slots, so a peer dropped for its dialect does not pass.
        args += ["--goal-hold", f"{PEERED_HOLD:g}s"]
    return args


def _read(run_dir: Path) -> tuple[dict, list[Sample]] | None:
    """result.json and the samples of the one exercise a pair run holds, if it got that far."""
    found = sorted(run_dir.glob("*/result.json"))
    if not found:
        return None
    result = json.loads(found[0].read_text())
    samples_path = found[0].with_name("samples.jsonl")
    samples = ([Sample(**json.loads(line)) for line in samples_path.read_text().splitlines()]
               if samples_path.exists() else [])
    return result, samples


def summary_row(run: PairRun, run_dir: Path, status: int | None) -> tuple[bool, str]:
    read = _read(run_dir)
    if read is None:
        what = "not run" if status is None else f"no result (exit {status})"
        return False, f"| {run.label} | {run.pybeacon_role} | **no** | {what} | — | — | — |"
    result, samples = read
    conflicts = finality_conflicts(samples)
    head_forks = forks(samples)
    passed = bool(result["reached"]) and not conflicts
    genesis = result["genesis_time"]
    times = []
    for node, info in result["nodes"].items():
        first = result["first_finality"].get(node)
        last = next((s for s in reversed(samples) if s.node == node and s.ok), None)
        fin = f"f{last.finalized_epoch}" if last and last.finalized_epoch is not None else "f—"
        times.append(f"{node} ({info['client']}) {fin}" + (f", first at {first - genesis:.0f} s" if first else ""))
    # Epochs above 0 that at least two nodes finalized (epoch 0 is not compared: see report.py).
    by_epoch: dict[int, set[str]] = {}
    for s in samples:
        if s.ok and s.finalized_epoch and s.finalized_root:
            by_epoch.setdefault(s.finalized_epoch, set()).add(s.node)
    shared = sorted(e for e, nodes in by_epoch.items() if len(nodes) > 1)
    roots = ("**finalized roots differ** at epoch(s) " + ", ".join(str(e) for e, _ in conflicts) if conflicts
             else f"same for epochs {shared[0]}-{shared[-1]}" if shared else "none finalized on two nodes")
    when = datetime.datetime.fromtimestamp(result["started"], datetime.timezone.utc)
    return passed, (f"| {run.label} | {run.pybeacon_role} | {'yes' if passed else '**no**'} | {result['reason']} "
                    f"(run {when:%Y-%m-%d %H:%M} UTC) | "
                    f"{'; '.join(times)} | {len(head_forks)} | {roots} |")


def write_summary(peer: str, out: Path, runs: list[PairRun], statuses: dict[str, int | None], goal_epoch: int) -> Path:
    lines = [f"# pybeacon / {peer}: pairing summary", "",
             f"`python -m beacon.testnet.pair {peer}` on {platform.node()}, "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. Goal: finalized epoch "
             f">= {goal_epoch} at 6 s slots on the goal nodes, and no finalized epoch with two roots "
             "(exercise 1: both peered).", "",
             "| run | pybeacon's role | passed | reason (when) | finality per node (latest epoch, first from genesis) "
             "| slots with two head roots | roots |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        lines.append(summary_row(run, out / run.label, statuses.get(run.label))[1])
    lines += ["", "Each run's report.md, logs and samples are in its folder.", ""]
    path = out / "summary.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m beacon.testnet.pair", description=__doc__.split("\n")[0])
    parser.add_argument("peer", help=f"the client to pair with ({', '.join(n for n in catalog.names() if n != 'pybeacon')})")
    parser.add_argument("--out", default=None, help="output folder (default runs/pair-PEER)")
    parser.add_argument("--finalized-epoch", type=int, default=4, help="goal epoch of exercises 2, 4 and the late joiner")
    parser.add_argument("--only", default="", help="comma-separated run labels (e.g. ex2-pybeacon-A); default all")
    args = parser.parse_args(argv)
    try:
        client = catalog.load_client(args.peer)
    except SpecError as e:
        print(f"pair: {e}", file=sys.stderr)
        return 2
    if hint := catalog.missing(client):
        print(hint, file=sys.stderr)
        return 2
    runs = plan()
    if args.only:
        wanted = {w.strip() for w in args.only.split(",") if w.strip()}
        unknown = wanted - {r.label for r in runs}
        if unknown:
            print(f"pair: unknown run(s) {', '.join(sorted(unknown))}; known: {', '.join(r.label for r in runs)}",
                  file=sys.stderr)
            return 2
        runs = [r for r in runs if r.label in wanted]
    out = Path(args.out or f"runs/pair-{args.peer}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    statuses: dict[str, int | None] = {}
    failed = False
    try:
        for run in runs:
            argv_run = harness_args(run, args.peer, out, args.finalized_epoch)
            # A fresh folder: a node must never start on the chain database of an earlier run.
            shutil.rmtree(out / run.label, ignore_errors=True)
            print(f"== {run.label}: pybeacon testnet {' '.join(argv_run)}", flush=True)
            statuses[run.label] = status = cli.main(argv_run)
            if status == 130:
                return 130
            if status == 2:  # the peer cannot run this exercise: said why; nothing else will differ
                return 2
            failed |= status != 0
    finally:
        # Every run of the plan, from whatever folders exist: a rerun of some (--only) updates the table.
        path = write_summary(args.peer, out, plan(), statuses, args.finalized_epoch)
        print(f"summary: {path}", flush=True)
    passed = all(summary_row(r, out / r.label, statuses.get(r.label))[0] for r in runs)
    return 0 if passed and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
