"""SIGKILL soak: kill the validating node of a 2-node testnet N times at random moments and
restart it from its datadir each time.

Node A runs every validator and dials node B (no validators, never killed). A kill lands at one
of three kinds of moment, chosen at random: during start-up (database open, replay, before the
API answers), while running (import, signing, database writes at any point of a slot), or
during a clean shutdown (SIGTERM, then SIGKILL before it finishes). Checked:
  - every restart is clean: the API answers, no traceback or ERROR line, finality never goes
    backwards, and every finalized checkpoint seen before is still canonical (after every
    10th kill the node runs until finality advances, so that history keeps growing);
  - no slashable pair was ever signed (beacon/chaos/audit.py: logs and protection DB);
  - after the last kill the chain finalizes again (two more epochs), on both nodes.

    python -m beacon.chaos.soak --kills 100 --slot-seconds 2 --out runs/soak
Ends with `result:` lines; exit status 0 only if every check held.
"""
from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import time
from pathlib import Path

from beacon.chaos.audit import audit
from beacon.chaos.procs import Node, make_testnet_files

SLOTS_PER_EPOCH = 8  # minimal preset


def _check_clean_log(text: str) -> list[str]:
    bad = [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]
    return bad[:5]


def soak(kills: int, slot_seconds: float, out: Path, seed: int, validators: int = 16, finality_every: int = 10) -> int:
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    cfg, genesis, genesis_time = make_testnet_files(out, slot_seconds, validators, delay=12)
    common = ["--genesis", str(genesis), "--config", str(cfg)]
    b = Node("b", out, common).start()
    b_addr = b.multiaddr()
    a = Node("a", out, [*common, "--validators", f"0:{validators}", "--peer", b_addr]).start()
    problems: list[str] = []
    kinds = {"startup": 0, "running": 0, "shutdown": 0}
    clean = 0
    seen_finalized: dict[int, str] = {}  # epoch -> root, every finalized checkpoint observed
    last_fin = 0
    t0 = time.monotonic()

    def observe(st: dict, who: str) -> None:
        nonlocal last_fin
        fe, fr = st["finalized"]["epoch"], st["finalized"]["root"]
        if fe < last_fin and who == "a":
            problems.append(f"{who}: finalized epoch went back from {last_fin} to {fe}")
        if fe in seen_finalized and seen_finalized[fe] != fr:
            problems.append(f"{who}: finalized checkpoint of epoch {fe} changed {seen_finalized[fe]} -> {fr}")
        seen_finalized[fe] = fr
        if who == "a":
            last_fin = max(last_fin, fe)

    def history_intact(node: Node) -> None:
        for epoch, root in sorted(seen_finalized.items())[-3:]:
            if epoch == 0:
                continue
            try:
                doc = node.get(f"/beacon/block?root={root}")
            except Exception as e:  # noqa: BLE001  (reported, not raised: the soak carries on)
                problems.append(f"{node.name}: finalized block {root[:14]} of epoch {epoch} unreadable: {e}")
                continue
            if not doc.get("canonical"):
                problems.append(f"{node.name}: finalized block {root[:14]} of epoch {epoch} no longer canonical")

    try:
        # Let the chain get going (genesis, first epochs) before the first kill.
        a.wait_for(lambda s: s["head"]["slot"] >= 2, genesis_time - time.time() + 60, "first blocks")
        for i in range(kills):
            kind = rng.choices(["startup", "running", "shutdown"], weights=[2, 6, 2])[0]
            kinds[kind] += 1
            if kind == "startup":
                time.sleep(rng.uniform(0.3, 4.0))  # somewhere in imports, DB open, replay
            else:
                st = a.wait_for(lambda s: True, 90, "the API after restart")
                observe(st, "a")
                time.sleep(rng.uniform(0, 3 * slot_seconds))
                if kind == "shutdown":
                    a.signal(signal.SIGTERM)
                    time.sleep(rng.uniform(0, 0.6))
            a.signal(signal.SIGKILL)
            a.wait(30)
            a.start()
            try:
                st = a.wait_for(lambda s: True, 120, "the API after restart")
                observe(st, "a")
                history_intact(a)
                bad = _check_clean_log(a.logs[-2].read_text(errors="replace")) if kind != "shutdown" else []
                bad += _check_clean_log(a.log)
                if bad:
                    problems.append(f"kill {i + 1} ({kind}): log has {bad}")
                else:
                    clean += 1
            except RuntimeError as e:
                problems.append(f"kill {i + 1} ({kind}): restart failed: {e}")
                a.kill()
                a.start()
            if (i + 1) % finality_every == 0 and i + 1 < kills:
                # Let finality move between bursts of kills, so that the restarts are
                # checked against a finalized history that keeps growing.
                try:
                    goal = last_fin + 1
                    st = a.wait_for(lambda s: s["finalized"]["epoch"] >= goal, 40 * SLOTS_PER_EPOCH * slot_seconds,
                                    f"finalized epoch {goal} between kills")
                    observe(st, "a")
                except RuntimeError as e:
                    problems.append(f"after kill {i + 1}: {e}")
            if (i + 1) % 10 == 0:
                print(f"soak: {i + 1}/{kills} kills, {clean} clean restarts, finalized epoch {last_fin}, "
                      f"{time.monotonic() - t0:.0f} s", flush=True)
        # Finality after the storm: two more epochs on both nodes.
        goal = last_fin + 2
        budget = (goal + 3) * SLOTS_PER_EPOCH * slot_seconds - (time.time() - genesis_time) + 120
        finalized_after = False
        try:
            sa = a.wait_for(lambda s: s["finalized"]["epoch"] >= goal, max(budget, 90), f"finalized epoch {goal}")
            sb = b.wait_for(lambda s: s["finalized"]["epoch"] >= goal, 60, f"B finalized epoch {goal}")
            observe(sa, "a")
            observe(sb, "b")
            history_intact(a)
            history_intact(b)
            finalized_after = True
        except RuntimeError as e:
            problems.append(f"no finality after the kills: {e}")
        code = a.stop()
        if code != 0:
            problems.append(f"final SIGTERM stop of A exited {code}")
    finally:
        a.kill()
        b.stop()
    report = audit(a.all_logs(), a.datadir)
    problems += report.problems
    elapsed = time.monotonic() - t0
    print(f"soak: kinds {kinds}; {report.attestations} signed attestations and {report.blocks} blocks in the logs, "
          f"{report.db_attestations} attestation and {report.db_proposals} proposal records in the DB")
    for p in problems[:40]:
        print(f"problem: {p}")
    print(f"result: soak_kills {kills} count")
    print(f"result: soak_clean_restarts {clean} count")
    print(f"result: soak_slashable_or_unrecorded_signatures {len(report.problems)} count")
    print(f"result: soak_signed_attestations {report.attestations} count")
    print(f"result: soak_finalized_epoch_before_last_kill {last_fin} epoch")
    print(f"result: soak_finalized_after {int(finalized_after)} bool")
    print(f"result: soak_seconds {elapsed:.0f} s")
    return 0 if not problems and clean == kills and finalized_after else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m beacon.chaos.soak", description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--slot-seconds", type=float, default=2.0)
    p.add_argument("--out", type=Path, default=Path("runs/soak"))
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--finality-every", type=int, default=10, metavar="N",
                   help="after every N kills, wait for the finalized epoch to advance (default 10)")
    args = p.parse_args(argv)
    if args.kills < 1 or args.slot_seconds <= 0:
        p.error("--kills must be >= 1 and --slot-seconds > 0")
    return soak(args.kills, args.slot_seconds, args.out, args.seed, finality_every=max(1, args.finality_every))


if __name__ == "__main__":
    sys.exit(main())
