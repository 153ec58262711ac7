"""Issue 13, short forms of exercises/offline.yaml and exercises/exit.yaml through the harness.

Both run at once (four real `pybeacon node` processes, two harnesses), each from the exercise
file as written with only the slot time (2 s, as the other finality exercises in CI), the genesis
delay, the event epochs, the goal epoch and the time limit shortened:

- offline: A-0's validators 0..5 (6 of 16) are off duty in epochs 2..4; finality stalls and
  resumes (epoch 5 finalized on both nodes), and the offline group ends poorer than the rest.
- exit: the exit of validator 9 (B-0's) is submitted to A-0's API at epoch 1
  (PERSISTENT_COMMITTEE_PERIOD 1); B-0 receives it by gossip; it is included and reached.
Namespaces (--netns) where we are root with iproute2, as the other exercises.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from beacon.testnet import netns

from .helpers import REPO, harness_argv, processes_mentioning

pytestmark = pytest.mark.slow

USE_NETNS = netns.unavailable_reason() is None and os.environ.get("PYBEACON_TEST_NETNS", "1") != "0"
SPE = 8


class Harness:
    def __init__(self, tmp: Path, name: str, change) -> None:
        doc = yaml.safe_load((REPO / "exercises" / f"{name}.yaml").read_text())
        doc["genesis_delay"] = 15
        change(doc)
        self.dir = tmp / name
        self.dir.mkdir()
        spec = self.dir / f"{name}.yaml"
        spec.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.doc, self.out = doc, self.dir / "out"
        self.limit = float(str(doc["time_limit"]).rstrip("s"))
        self.output = self.dir / "harness.out"
        with self.output.open("w") as f:
            self.proc = subprocess.Popen(harness_argv(str(spec), "--out", str(self.out),
                                                      *(["--netns"] if USE_NETNS else [])),
                                         cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, PYTHONPATH=str(REPO)))

    def finish(self) -> tuple[Path, dict, dict]:
        try:
            self.proc.wait(timeout=self.limit + 120)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=60)
            pytest.fail(f"harness still running:\n{self.output.read_text()[-3000:]}")
        ex = self.out / self.doc["name"]
        assert self.proc.returncode == 0, self.output.read_text()[-4000:]
        result = json.loads((ex / "result.json").read_text())
        assert result["reached"] and not result["problems"], result["problems"]
        assert processes_mentioning(str(self.out)) == []  # every node stopped
        for log in (ex / "logs").glob("?-0.log"):
            text = log.read_text()
            assert "Traceback" not in text and "slashing protection" not in text, log
        return ex, result, json.loads((ex / "ops.json").read_text())


def _offline(doc: dict) -> None:
    doc["config"]["SECONDS_PER_SLOT"] = 2
    doc["events"] = [{"action": "offline", "node": "A-0", "validators": "0:6", "at_epoch": 2, "epochs": 3}]
    doc["goal"]["finalized_epoch"] = 5
    doc["time_limit"] = "200s"


def _exit(doc: dict) -> None:
    doc["config"].update(SECONDS_PER_SLOT=2, PERSISTENT_COMMITTEE_PERIOD=1)
    doc["events"] = [{"action": "exit", "node": "A-0", "validator": 9, "at_epoch": 1}]
    doc["time_limit"] = "200s"


def test_offline_and_exit_short(tmp_path):
    runs = [Harness(tmp_path, "offline", _offline), Harness(tmp_path, "exit", _exit)]
    (off_dir, off_res, off_ops), (exit_dir, exit_res, exit_ops) = [r.finish() for r in runs]

    # offline: finality stalled while 6 of 16 were away, resumed after.
    (window,) = off_ops["windows"]
    assert window["from_slot"] >= 2 * SPE and window["to_slot"] >= 5 * SPE
    during = [r for r in off_ops["records"] if window["from_slot"] + SPE <= r["slot"] <= window["to_slot"]]
    assert during and max(r["finalized_epoch"] for r in during) <= 2, during
    assert off_ops["records"][-1]["finalized_epoch"] >= 5 or off_res["reached"]
    last = [r for r in off_ops["records"] if "balances" in r and r["slot"] <= window["to_slot"]][-1]
    offline = sum(last["balances"][:6]) / 6
    online = sum(last["balances"][6:]) / 10
    assert offline < online, (offline, online)
    report = (off_dir.parent / "report.md").read_text()
    assert "### Offline validators: finality and balances" in report and "balances.png" in report
    assert (off_dir / "balances.png").stat().st_size > 1000

    # exit: submitted to A-0, gossiped to B-0, included, reached.
    track = exit_ops["exits"]["9"]
    assert track["cli_status"] == 0 and "accepted" in track["cli"]
    assert track["exit_epoch"] is not None and track["exit_epoch"] <= 1 + 1 + 4 + 2
    assert track["status"].startswith("exited")
    b_log = (exit_dir / "logs" / "B-0.log").read_text()
    assert re.search(r"voluntary exit of validator 9 \(epoch 1\) received by gossip", b_log)
    a_log = (exit_dir / "logs" / "A-0.log").read_text()
    assert "voluntary exit of validator 9 (epoch 1) pooled and gossiped" in a_log
    assert "1 voluntary exit(s)" in a_log + b_log  # the including proposal says so
    assert "### Voluntary exits" in (exit_dir.parent / "report.md").read_text()
