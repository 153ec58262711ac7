"""`peering: discovery` in the testnet harness: the description, and a short form of
exercises/discovery.yaml run by the harness with real pybeacon processes on 127.0.0.1 (four
nodes and a late joiner that know only the bootnode's ENR, 1 s slots, epoch 2 finalized)."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from beacon.testnet.spec import SpecError, load_spec, parse_spec
from tests.testnet.helpers import REPO, harness_argv, processes_mentioning

EXERCISE = REPO / "exercises" / "discovery.yaml"


def test_discovery_peering_description() -> None:
    spec = load_spec(EXERCISE)
    assert spec.bootnode == "N-00" and spec.peering == {} and len(spec.nodes) == 17
    assert spec.late_joiners() == {"LATE"} and spec.goal.finalized_epoch == 4
    doc = yaml.safe_load(EXERCISE.read_text())
    bad = copy.deepcopy(doc)
    bad["events"] = [{"action": "join", "node": "N-00", "at_slot": 8}]
    with pytest.raises(SpecError, match="bootnode N-00 .* must start at genesis"):
        parse_spec(bad)
    bad = copy.deepcopy(doc)
    bad["goal"] = {"peered": True}
    with pytest.raises(SpecError, match="goal.peered"):
        parse_spec(bad)


@pytest.mark.slow
def test_short_discovery_exercise_finalizes_with_a_late_joiner(tmp_path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load(EXERCISE.read_text())
    doc["validators"] = 32
    doc["nodes"] = [{"id": f"N-{i:02d}", "role": "A", "validators": f"{8 * i}:8"} for i in range(4)] + \
        [{"id": "LATE", "role": "A"}]
    doc["config"] = {"SECONDS_PER_SLOT": 1}
    doc["genesis_delay"] = 20
    doc["events"] = [{"action": "join", "node": "LATE", "at_slot": 10}]
    doc["goal"] = {"finalized_epoch": 2}
    doc["time_limit"] = "150s"
    spec = tmp_path / "discovery.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "out"
    proc = subprocess.run(harness_argv(str(spec), "--out", str(out)), cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    result = json.loads((out / "discovery" / "result.json").read_text())
    assert result["reached"] and set(result["goal_times"]) == {n["id"] for n in doc["nodes"]}, result
    boot_enr = (out / "discovery" / "data" / "N-00" / "enr").read_text().strip()
    shown = json.loads(subprocess.run(
        [sys.executable, "-m", "beacon.cli", "enr", "--datadir", str(out / "discovery" / "data" / "N-00"), "--json"], cwd=REPO,
        capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=str(REPO))).stdout)
    assert shown["enr"] == boot_enr and shown["fields"]["ip"] == "127.0.0.1"
    assert shown["fields"]["eth2"]["next_fork_version"] == "0x00000000"
    assert shown["multiaddr"].endswith("/p2p/" + result["nodes"]["N-00"]["peer_id"])
    for node in doc["nodes"]:
        command = result["nodes"][node["id"]]["command"]
        assert "--peer" not in command
        if node["id"] == "N-00":
            assert "--bootnode" not in command
        else:  # every other node, the late joiner too, knew only the bootnode
            assert command[command.index("--bootnode") + 1] == boot_enr
        log = (out / "discovery" / "logs" / f"{node['id']}.log").read_text()
        assert "stopped; databases closed" in log and "Traceback" not in log, (node["id"], log[-3000:])
    late = (out / "discovery" / "logs" / "LATE.log").read_text()
    assert "range sync" in late and "connected to discovered peer" in late + "".join(
        (out / "discovery" / "logs" / f"N-{i:02d}.log").read_text() for i in range(4))
    assert processes_mentioning(str(out)) == []
