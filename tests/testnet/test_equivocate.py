"""exercises/equivocate.yaml in short form (2 s slots) through the harness with real pybeacon
processes: A-0 (--unsafe-allow-equivocation, added by the harness) makes validators 1, 2 and 3
equivocate (proposal, double vote, surround vote); the honest nodes B-0 and B-1 must find each
offence in gossip, and every node's head state must show the three slashed, with epoch 3
finalized. Nobody else is slashed or caught signing anything slashable; no node crashes."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_exercises import USE_NETNS, Run

pytestmark = pytest.mark.slow

KINDS = {"1": "proposal", "2": "double_vote", "3": "surround_vote"}


def test_equivocations_are_slashed_by_honest_nodes(tmp_path: Path) -> None:
    out, result = Run(tmp_path, "equivocate", use_netns=USE_NETNS, slot_seconds=2, finalized_epoch=3).finish()
    commands = {n: " ".join(v["command"]) for n, v in result["nodes"].items()}
    assert "--unsafe-allow-equivocation" in commands["A-0"]
    assert "--unsafe-allow-equivocation" not in commands["B-0"] + commands["B-1"]
    slashing = result["slashing"]
    assert {v: a["kind"] for v, a in slashing["armed"].items()} == KINDS
    assert set(slashing["signed"]) == set(KINDS), slashing["signed"]
    for node_id in ("A-0", "B-0", "B-1"):
        seen = slashing["seen"][node_id]
        assert set(seen) == set(KINDS), (node_id, seen)
        for v, rec in seen.items():
            # slashed after it signed; the penalty (1/32 of the effective balance) came off; exiting
            assert rec["t"] >= slashing["signed"][v]["time"] - 1, (node_id, v)
            assert rec["balance_before"] - rec["balance"] >= 32 * 10**9 // 32 - 10**8, (node_id, v, rec)
            assert rec["exit_epoch"] < 2**64 - 1 and rec["status"] in ("active_slashed", "exited_slashed")
    report = (out / "report.md").read_text()
    assert "### Equivocations and slashings" in report and report.count("| surround_vote | A-0 |") == 3
    for node_id in ("B-0", "B-1"):
        log = (out / "equivocate" / "logs" / f"{node_id}.log").read_text()
        offenders = {int(v) for m in re.finditer(r"slashable: validator ([\d,]+) signed", log)
                     for v in m.group(1).split(",")}
        # each honest node found at least one offence itself, and only the ordered ones
        assert offenders and offenders <= {1, 2, 3}, (node_id, offenders)
        assert "CHAOS" not in log
