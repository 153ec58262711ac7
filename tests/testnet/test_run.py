"""Real runs of the harness on 127.0.0.1: stand-in node processes, real sockets, real files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .helpers import is_png, processes_mentioning, run_harness, standin_client, standin_spec

pytestmark = pytest.mark.slow


def read_samples(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_nodes_reach_the_goal_and_write_report_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_harness(str(standin_spec(tmp_path)), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "B-0 reached the goal" in proc.stdout
    # one concise live line per poll, with head/justified/finalized/peers per node
    live = [line for line in proc.stdout.splitlines() if line.startswith("[pair +")]
    assert len(live) >= 10 and "A-0 h" in live[-1] and "| B-0 h" in live[-1]

    report = (out / "report.md").read_text()
    assert report.startswith("# standin-a / standin-b\n")
    for part in ("## pair: stand-in pair", "Result: **PASSED**", "### Time to finality", "### Forks observed",
                 "None: whenever two nodes", "### Problems and solutions", "static peer A-0 to [B-0]"):
        assert part in report, part

    result = json.loads((out / "pair" / "result.json").read_text())
    assert result["reached"] and set(result["goal_times"]) == {"B-0"}
    a, b = result["nodes"]["A-0"], result["nodes"]["B-0"]
    # A-0 was started after B-0 announced itself, and dialled exactly that address
    assert f"/ip4/127.0.0.1/tcp/{b['port']}/p2p/{b['peer_id']}" in a["command"]
    assert "--validators" in a["command"] and "--validators" not in b["command"]
    samples = read_samples(out / "pair" / "samples.jsonl")
    final_b = [s for s in samples if s["node"] == "B-0" and s["ok"]][-1]
    assert final_b["finalized_epoch"] >= 2 and final_b["peers"] == 1
    assert processes_mentioning(str(out)) == []
    assert "](pair/plot.png)" in report
    width, height = is_png(out / "pair" / "plot.png")  # last: skips (with its reason) without matplotlib
    assert width >= 400 and height >= 200


def test_missed_goal_fork_and_crash_are_reported(tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec = standin_spec(
        tmp_path, name="trouble",
        clients={"A": standin_client("standin-a"),
                 "B": standin_client("standin-b", watch="metrics", extra="--fork-from-slot 3 --fork-salt x")},
        nodes=[{"id": "A-0", "role": "A", "validators": "0:16"}, {"id": "B-0", "role": "B"},
               {"id": "B-1", "role": "B"}],
        peering={"A-0": ["B-0", "B-1"]},
        goal={"finalized_epoch": 40, "nodes": ["A-0"]}, time_limit=14)
    proc = run_harness(str(spec), "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = (out / "report.md").read_text()
    assert "Result: **FAILED**: time limit of 14 s passed" in report
    assert "| trouble | FAILED |" in report
    assert "slot(s) where nodes reported different head roots" in report
    assert "- slot 3:" in report  # A-0's root differs from the B nodes' from slot 3 on
    assert processes_mentioning(str(out)) == []


def test_crashing_node_is_a_problem_with_its_log(tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec = standin_spec(
        tmp_path, name="crash",
        clients={"A": standin_client("standin-a"),
                 "B": standin_client("standin-b", watch="metrics", extra="--exit-at-slot 3")},
        goal={"finalized_epoch": 3, "nodes": ["A-0", "B-0"]}, time_limit=30)
    proc = run_harness(str(spec), "--out", str(out))
    assert proc.returncode == 1
    report = (out / "report.md").read_text()
    assert "goal node(s) B-0 exited" in report
    assert "B-0 exited with code 3" in report
    assert "ERROR exiting as asked" in report  # the log tail is quoted
    assert "Solution: _(to be written by the pair)_" in report


def test_join_pause_restart_events(tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec = standin_spec(
        tmp_path, name="events",
        nodes=[{"id": "A-0", "role": "A", "validators": "0:8"}, {"id": "A-1", "role": "A", "validators": "8:8"},
               {"id": "B-0", "role": "B"}, {"id": "A-2", "role": "A"}],
        peering={"A-0": ["A-1"], "B-0": ["A-1"], "A-2": ["A-0", "B-0"]},
        goal={"finalized_epoch": 5, "nodes": ["A-0", "A-1", "B-0", "A-2"]}, time_limit=45,
        events=[{"action": "join", "node": "A-2", "at_epoch": 2},
                {"action": "pause", "node": "B-0", "at_slot": 3, "slots": 3},
                {"action": "restart", "node": "A-1", "at_slot": 5, "slots": 2, "signal": "TERM"}])
    proc = run_harness(str(spec), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "events" / "result.json").read_text())
    timeline = [text for _, text in result["timeline"]]
    for want in ("B-0 paused (SIGSTOP)", "B-0 resumed (SIGCONT)", "A-2 joins", "A-1 killed with SIGTERM",
                 "A-1 restarted (start #2)"):
        assert any(want in t for t in timeline), want
    assert result["nodes"]["A-1"]["starts"] == 2
    assert result["nodes"]["A-1"]["exits"] == ["killed by harness (SIGTERM, exit 0)"]
    samples = read_samples(out / "events" / "samples.jsonl")
    assert any(s["node"] == "B-0" and s["error"] == "paused" for s in samples)
    assert any(s["node"] == "A-1" and s["error"] == "down" for s in samples)
    assert any(s["node"] == "A-2" and s["error"] == "pending" for s in samples)
    # the late joiner synced from genesis: it reported syncing before it caught up
    assert any(s["node"] == "A-2" and s["ok"] and s["syncing"] for s in samples)
    assert (out / "logs").exists() is False and (out / "events" / "logs" / "A-1.log").read_text().count(
        "==== harness: start #") == 2
    report = (out / "report.md").read_text()
    assert "event: A-2 joins at slot 4 (epoch 2) and syncs from genesis" in report
    assert "started 2 times" in report
    is_png(out / "events" / "plot.png")


def test_nodes_watched_through_their_log(tmp_path: Path) -> None:
    """Role B from a client description file (--client-b PATH.yaml): its log read from a file of
    its own (log_file), and its clean-up command run with the node's placeholders after it stopped."""
    out = tmp_path / "out"
    b_client = standin_client("standin-b", watch="log")
    b_client["log_patterns"] = {"head_slot": r"slot=(\d+)", "finalized_epoch": r"finalized_epoch=(\d+)",
                                "justified_epoch": r"justified_epoch=(\d+)", "peers": r"peers=(\d+)"}
    b_client["log_file"] = "{datadir}/../../logs/{node_id}.log"
    b_client["cleanup"] = "touch {datadir}/cleaned-{validator_list}-{genesis_time}"
    description = tmp_path / "standin-b.yaml"
    description.write_text(yaml.safe_dump(b_client))
    spec = standin_spec(tmp_path, name="logs")
    proc = run_harness(str(spec), "--out", str(out), "--client-b", str(description), "--goal-hold", "2.5s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    samples = [s for s in read_samples(out / "logs" / "samples.jsonl") if s["node"] == "B-0" and s["ok"]]
    assert samples[-1]["finalized_epoch"] >= 2 and samples[-1]["peers"] == 1
    # --goal-hold: the goal counts only once it held 2.5 s (finalized epoch 2 from the first such sample on)
    first = next(s["t"] for s in samples if s["finalized_epoch"] >= 2)
    reached = json.loads((out / "logs" / "result.json").read_text())["goal_times"]["B-0"]
    assert reached - first >= 2.5
    assert samples[-1]["head_root"] is None  # no head_root pattern: numbers only
    genesis_time = json.loads((out / "logs" / "result.json").read_text())["genesis_time"]
    assert (out / "logs" / "data" / "B-0" / f"cleaned-none-{genesis_time}").exists()
    assert not list((out / "logs" / "data" / "A-0").glob("cleaned-*"))  # only B's client has one


def test_link_loss_without_netns_is_refused(tmp_path: Path) -> None:
    # Delay, bandwidth and resets go through the link relays on 127.0.0.1; loss needs nftables.
    spec = standin_spec(tmp_path, nodes=[{"id": "A-0", "role": "A", "validators": "0:16",
                                          "link": {"latency_ms": 50, "loss_pct": 5}}, {"id": "B-0", "role": "B"}])
    proc = run_harness(str(spec), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "link loss_pct for A-0 needs --netns" in proc.stderr
    assert not (tmp_path / "out").exists()
