"""Interop exercises 1, 2, 4 and 5 (exercises/*.yaml) through the harness with real pybeacon nodes.

Each test takes the exercise file as written and changes only the slot time, the genesis delay,
the goal epoch and the time limit (the table in docs/exercises.md says which, and why). Nodes are
real `pybeacon node` processes: one network namespace each when we are root with iproute2
(`--netns`), else 127.0.0.1 ports; exercise 1 runs both ways wherever it can.

The slot times are chosen for a 2-core machine running the whole suite under `pytest -n 2`:
at 1 s slots a node that loses the CPU for a second misses its duties, so the exercises with
finality as their goal use 2 s slots (docs/exercises.md, "CI").
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from beacon.testnet import netns

from .helpers import REPO, harness_argv, is_png, processes_mentioning

pytestmark = pytest.mark.slow

NETNS_REASON = netns.unavailable_reason()  # None: root with iproute2
# ex2, ex4 and ex5 run in namespaces where they can; PYBEACON_TEST_NETNS=0 runs them on 127.0.0.1
USE_NETNS = NETNS_REASON is None and os.environ.get("PYBEACON_TEST_NETNS", "1") != "0"


def exercise(tmp_path: Path, name: str, *, slot_seconds: int, finalized_epoch: int | None,
             genesis_delay: int = 15) -> tuple[Path, dict[str, Any]]:
    """exercises/NAME.yaml with a shorter slot (and goal epoch); time limit: twice the ideal time + 90 s."""
    doc = yaml.safe_load((REPO / "exercises" / f"{name}.yaml").read_text())
    doc["config"] = dict(doc.get("config") or {}, SECONDS_PER_SLOT=slot_seconds)
    doc["genesis_delay"] = genesis_delay
    if finalized_epoch is None:
        doc["time_limit"] = f"{genesis_delay + 60}s"
    else:
        doc["goal"] = dict(doc["goal"], finalized_epoch=finalized_epoch)
        # epoch E is finalized at the start of epoch E+2 at the earliest (8-slot epochs)
        doc["time_limit"] = f"{genesis_delay + 2 * (finalized_epoch + 2) * 8 * slot_seconds + 90}s"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, doc


class Run:
    """One harness process for one exercise, started now and checked by `finish()`."""

    def __init__(self, tmp_path: Path, name: str, *, use_netns: bool, **kw: Any) -> None:
        self.dir = tmp_path / name
        self.dir.mkdir()
        self.use_netns = use_netns
        spec, self.doc = exercise(self.dir, name, **kw)
        self.out = self.dir / "out"
        self.limit = float(self.doc["time_limit"].rstrip("s"))
        self.started = time.monotonic()
        # output to a file: a pipe nobody reads while we wait on another run would fill and block
        self.output = self.dir / "harness.out"
        with self.output.open("w") as f:
            self.proc = subprocess.Popen(
                harness_argv(str(spec), "--out", str(self.out), *(["--netns"] if use_netns else [])),
                cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(REPO)))

    def finish(self) -> tuple[Path, dict[str, Any]]:
        """Wait for the harness, then check what every exercise must show; (out dir, result.json)."""
        name, out = self.doc["name"], self.out
        remaining = self.limit + 120 - (time.monotonic() - self.started)
        try:
            self.proc.wait(timeout=max(remaining, 1))
        except subprocess.TimeoutExpired:
            self.proc.terminate()  # the harness stops its nodes and namespaces on SIGTERM
            self.proc.wait(timeout=60)
            pytest.fail(f"{name}: harness still running {self.limit + 120:.0f} s in\n"
                        f"{self.output.read_text()[-4000:]}")
        stdout = self.output.read_text()
        assert self.proc.returncode == 0, f"{name}: exit {self.proc.returncode}\n{stdout[-8000:]}"
        report = (out / "report.md").read_text()
        assert report.startswith("# pybeacon / pybeacon\n"), report[:200]
        assert f"## {name}: " in report and "Result: **PASSED**" in report, report
        result = json.loads((out / name / "result.json").read_text())
        assert result["reached"], result
        assert set(result["goal_times"]) == set(self.doc["goal"]["nodes"]), (name, result["goal_times"])
        # every node ran to the end (no crash, no restart) and was stopped by the harness
        for node_id in (n["id"] for n in self.doc["nodes"]):
            log = (out / name / "logs" / f"{node_id}.log").read_text()
            assert "stopped; databases closed" in log and "Traceback" not in log, (name, node_id, log[-3000:])
            assert result["nodes"][node_id]["starts"] == 1, (name, node_id)
        assert processes_mentioning(str(out)) == []
        first = " ".join(result["nodes"][self.doc["nodes"][0]["id"]]["command"])
        if self.use_netns:
            assert "--listen-address 10.77.0." in first, first
            # each node had its own namespace, and none is left behind
            m = re.search(r"network namespaces (pbtn-\d+)-br \(bridge\)", stdout)
            assert m, stdout[:2000]
            assert not [ns for ns in netns.list_namespaces() if ns.startswith(m.group(1) + "-")]
        else:
            assert "--listen-address 127.0.0.1" in first, first
        check_plot(out, name)
        return out, result


def samples(out: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / name / "samples.jsonl").read_text().splitlines()]


def last_ok(out: Path, name: str, node_id: str) -> dict[str, Any]:
    return [s for s in samples(out, name) if s["node"] == node_id and s["ok"]][-1]


def check_plot(out: Path, name: str) -> None:
    assert f"]({name}/plot.png)" in (out / "report.md").read_text()
    width, height = is_png(out / name / "plot.png")  # skips (saying why) only without matplotlib
    assert width >= 400 and height >= 200


TRANSPORTS = [pytest.param(False, id="loopback"),
              pytest.param(True, id="netns", marks=pytest.mark.skipif(
                  NETNS_REASON is not None, reason=f"--netns: {NETNS_REASON}"))]


@pytest.mark.parametrize("use_netns", TRANSPORTS)
def test_ex1_a_peers_with_b(tmp_path: Path, use_netns: bool) -> None:
    out, result = Run(tmp_path, "ex1", use_netns=use_netns, slot_seconds=1, finalized_epoch=None,
                      genesis_delay=10).finish()
    a, b = result["nodes"]["A-0"], result["nodes"]["B-0"]
    # A dialled the address B announced; the `peered` goal compared each node's peer ids with
    # the other's announced id, so both held the connection (the harness reached it for both)
    assert f"/tcp/{b['port']}/p2p/{b['peer_id']}" in " ".join(a["command"]) and a["peer_id"] != b["peer_id"]
    assert last_ok(out, "ex1", "A-0")["peers"] == 1 and last_ok(out, "ex1", "B-0")["peers"] == 1


def test_ex2_ex4_ex5_reach_finality_side_by_side(tmp_path: Path) -> None:
    """Exercises 2, 4 and 5 at once: each harness and its nodes mostly wait for the next slot, so
    running the three side by side costs one pytest worker ~3 minutes instead of ~8 in a row."""
    ex2 = Run(tmp_path, "ex2", use_netns=USE_NETNS, slot_seconds=2, finalized_epoch=6)
    ex4 = Run(tmp_path, "ex4", use_netns=USE_NETNS, slot_seconds=2, finalized_epoch=6)
    ex5 = Run(tmp_path, "ex5", use_netns=USE_NETNS, slot_seconds=2, finalized_epoch=8, genesis_delay=20)
    runs = [ex2, ex4, ex5]
    try:
        # ex2: B (no validators) follows A to epoch 6 finalized
        out, _ = ex2.finish()
        assert last_ok(out, "ex2", "B-0")["finalized_epoch"] >= 6
        assert last_ok(out, "ex2", "A-0")["finalized_epoch"] >= 5
        # ex4: 8 validators each; neither half alone has the 2/3 to justify, so both kept one chain
        out, _ = ex4.finish()
        for node_id in ("A-0", "B-0"):
            assert last_ok(out, "ex4", node_id)["finalized_epoch"] >= 6
        assert "None: whenever two nodes" in (out / "report.md").read_text()
        # ex5: four nodes, 4 validators each, all at epoch 8 finalized
        out, _ = ex5.finish()
        for node_id in ("A-0", "A-1", "B-0", "B-1"):
            s = last_ok(out, "ex5", node_id)
            assert s["finalized_epoch"] >= 8 and s["peers"] >= 1, s
        assert "None: whenever two nodes" in (out / "report.md").read_text()
    finally:
        for run in runs:  # a failed check above must not leave the other harnesses running
            if run.proc.poll() is None:
                run.proc.terminate()
                run.proc.wait(timeout=60)
