"""Testnet descriptions: validation errors name the key, and the exercises match the interop."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from beacon.testnet.runner import expand
from beacon.testnet.spec import SpecError, load_spec, parse_spec
from beacon.testnet.status import ObserveError, parse_metrics, parse_status, root_key

from .helpers import REPO, run_harness, standin_spec

BASE: dict[str, Any] = {
    "validators": 16,
    "nodes": [{"id": "A-0", "role": "A", "validators": "0:8"}, {"id": "B-0", "role": "B", "validators": "8:8"}],
    "peering": {"A-0": ["B-0"]},
    "goal": {"finalized_epoch": 8},
}


def with_changes(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def test_base_description_is_valid() -> None:
    spec = parse_spec(with_changes())
    assert [n.id for n in spec.nodes] == ["A-0", "B-0"]
    assert spec.slots_per_epoch == 8 and spec.seconds_per_slot == 6
    assert spec.goal.nodes == ["A-0", "B-0"]  # all nodes by default
    assert spec.clients["A"].name == "pybeacon" and spec.clients["A"].watch == "status"
    assert spec.time_limit > 10 * 8 * 6  # default leaves room for epoch 8 to finalize


BAD = [
    ({"nodes": None}, "missing required key 'nodes'"),
    ({"goal": None}, "missing required key 'goal'"),
    ({"validators": 0}, "validators: must be at least 1"),
    ({"nodez": []}, "unknown key(s) nodez"),
    ({"nodes": [{"id": "A-0", "role": "C"}]}, "nodes[0].role: must be A or B"),
    ({"nodes": [{"id": "A 0", "role": "A"}]}, "nodes[0].id"),
    ({"nodes": [{"id": "A-0", "role": "A"}, {"id": "A-0", "role": "B"}]}, "duplicate node id 'A-0'"),
    ({"nodes": [{"id": "A-0", "role": "A", "validators": "8:16"}]}, "goes past the 16 genesis validators"),
    ({"nodes": [{"id": "A-0", "role": "A", "validators": "0-8"}]}, "must be 'START:COUNT'"),
    ({"nodes": [{"id": "A-0", "role": "A", "validators": "0:8"}, {"id": "B-0", "role": "B", "validators": "4:8"}]},
     "validator 4 is also run by A-0"),
    ({"nodes": [{"id": "A-0", "role": "A", "link": {"latency_ms": -1}}]}, "latency_ms: must be at least 0"),
    ({"nodes": [{"id": "A-0", "role": "A", "link": {"loss_pct": 120}}]}, "percentage"),
    ({"nodes": [{"id": "A-0", "role": "A", "link": {"jitter_ms": 5}}]}, "jitter_ms: needs latency_ms"),
    ({"peering": {"A-0": ["C-9"]}}, "peering.A-0: unknown node 'C-9'"),
    ({"peering": {"A-0": ["A-0"]}}, "cannot peer with itself"),
    ({"peering": {"A-0": ["B-0"], "B-0": ["A-0"]}}, "dialling loops (A-0 -> B-0 -> A-0)"),
    ({"goal": {"finalized_epoch": 0}}, "goal.finalized_epoch: must be at least 1"),
    ({"goal": {}}, "goal: needs finalized_epoch and/or peered"),
    ({"goal": {"finalized_epoch": 8, "hold": "a while"}}, "goal.hold: must be a duration"),
    ({"goal": {"finalized_epoch": 8, "nodes": ["X"]}}, "goal.nodes: unknown node 'X'"),
    ({"time_limit": "ten minutes"}, "time_limit: must be a duration"),
    ({"preset": "tiny"}, "preset: must be one of"),
    ({"config": {"SECONDS_PER_SLOTS": 2}}, "unknown constant 'SECONDS_PER_SLOTS'"),
    ({"clients": {"A": {"command": "lighthouse --port {port} --bogus {nope}"}}},
     "clients.A.command: unknown placeholder {nope}"),
    ({"clients": {"A": {"command": "x --peers={peer_args}"}}}, "must stand alone"),
    ({"clients": {"B": {"watch": "carrier-pigeon"}}}, "clients.B.watch: must be one of"),
    ({"clients": {"B": {"command": "x {port}", "watch": "log"}}}, "watch: log needs patterns for head_slot"),
    ({"clients": {"B": {"command": "x", "multiaddr_pattern": "/p2p/(\\w+)"}}}, "named group (?P<peer_id>"),
    ({"clients": {"B": {"command": "x", "log_patterns": {"head_slot": "slot=("}}}}, "not a valid regular expression"),
    ({"clients": {"C": {}}}, "clients: unknown key(s) C"),
    ({"genesis": {"command": "mkgenesis {validators} {slots}"}}, "genesis.command: unknown placeholder {slots}"),
    ({"events": [{"action": "explode", "node": "A-0", "at_slot": 3}]}, "events[0].action"),
    ({"events": [{"action": "pause", "node": "A-0", "at_slot": 3}]}, "events[0].slots: must be an integer"),
    ({"events": [{"action": "pause", "node": "A-0", "at_slot": 3, "at_epoch": 1, "slots": 2}]},
     "exactly one of at_slot, at_epoch"),
    ({"events": [{"action": "restart", "node": "A-0", "at_slot": 3, "signal": "HUP"}]}, "signal: must be KILL"),
    ({"events": [{"action": "join", "node": "B-0", "at_epoch": 2}]}, "B-0 joins late, so A-0 cannot dial it"),
    ({"events": [{"action": "join", "node": "A-0", "at_epoch": 2}, {"action": "join", "node": "B-0", "at_epoch": 3}],
      "peering": None}, "at least one node must start at genesis"),
    ({"events": [{"action": "join", "node": "A-0", "at_epoch": 2},
                 {"action": "pause", "node": "A-0", "at_slot": 3, "slots": 1}]}, "cannot be paused before"),
    ({"goal": {"peered": True}, "peering": None}, "has no static peering edge"),
    ({"events": [{"action": "equivocate", "node": "A-0", "validator": 9, "kind": "proposal", "at_slot": 3}]},
     "events[0].validator: A-0 does not run validator 9"),
    ({"events": [{"action": "equivocate", "node": "A-0", "validator": 1, "kind": "triple_vote", "at_slot": 3}]},
     "events[0].kind: must be proposal, double_vote, surround_vote"),
    ({"events": [{"action": "equivocate", "node": "A-0", "kind": "proposal", "at_slot": 3}]},
     "events[0].validator: must be an integer"),
    ({"events": [{"action": "pause", "node": "A-0", "at_slot": 3, "slots": 1, "validator": 1}]},
     "validators/validator/epochs only apply to offline, exit and equivocate"),
    ({"events": [{"action": "equivocate", "node": "A-0", "validator": 1, "kind": "proposal", "at_slot": 3},
                 {"action": "equivocate", "node": "A-0", "validator": 1, "kind": "double_vote", "at_slot": 9}]},
     "one equivocate event per validator"),
    ({"goal": {"slashed": [16]}}, "goal.slashed: must be a list of validator indices below 16"),
    ({"goal": {"slashed": "1"}}, "goal.slashed: must be a list"),
]


@pytest.mark.parametrize("changes,message", BAD, ids=[m[:40] for _, m in BAD])
def test_invalid_descriptions_say_what_and_where(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(with_changes(**changes))
    assert message in str(info.value)


def test_load_spec_reports_file_and_yaml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [\n")
    with pytest.raises(SpecError, match="bad.yaml: not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    listy = tmp_path / "listy.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="listy.yaml: must be a mapping"):
        load_spec(listy)


def test_cli_exits_2_with_the_error(tmp_path: Path) -> None:
    path = standin_spec(tmp_path, goal={"finalized_epoch": 2, "nodes": ["Z-9"]})
    proc = run_harness(str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "goal.nodes: unknown node 'Z-9'" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing started


def test_durations_and_validator_forms() -> None:
    spec = parse_spec(with_changes(time_limit="1.5h", poll_interval="2s", nodes=[
        {"id": "A-0", "role": "A", "validators": {"start": 0, "count": 8}},
        {"id": "B-0", "role": "B", "validators": "8:8"}]))
    assert spec.time_limit == 5400 and spec.poll_interval == 2
    assert (spec.nodes[0].validators_start, spec.nodes[0].validators_count) == (0, 8)
    assert spec.swapped().clients["A"] is spec.clients["B"]


def test_command_expansion() -> None:
    words = {"port": "9000", "peers": "", "genesis": "/g.ssz"}
    argv = expand("{pybeacon} --port={port} {peer_args} {peers} --genesis {genesis} {validator_args}",
                  words, {"pybeacon": ["py", "-m", "beacon.cli"], "peer_args": ["--peer", "/ip4/x"],
                          "validator_args": []})
    assert argv == ["py", "-m", "beacon.cli", "--port=9000", "--peer", "/ip4/x", "--genesis", "/g.ssz"]
    # without peers, a {peers} argument goes together with its flag
    assert expand("lh --libp2p-addresses {peers} --p={peers} --port {port}", words, {}) == ["lh", "--port", "9000"]
    assert expand("lh --libp2p-addresses {peers}", dict(words, peers="/a,/b"), {}) == ["lh", "--libp2p-addresses", "/a,/b"]


def test_status_readers() -> None:
    doc = ('{"version": "v", "genesis_time": 1, "syncing": false, "head": {"slot": "12", "root": "0x' + "ab" * 32 +
           '", "state_root": "0x00"}, "justified": {"epoch": 1, "root": "0x01"}, "finalized": {"epoch": 0, '
           '"root": "0x02"}, "peers": [{"id": "16Uiu2X", "address": "/ip4/1.2.3.4/tcp/1", "direction": "inbound",'
           ' "head_slot": 12}]}')
    obs = parse_status(doc.encode())
    assert (obs.head_slot, obs.justified_epoch, obs.finalized_epoch, obs.peers) == (12, 1, 0, 1)
    assert obs.peer_ids == ["16Uiu2X"]
    with pytest.raises(ObserveError):
        parse_status(b'{"head": {"slot": "twelve"}}')
    text = ("# HELP beacon_head_slot x\nbeacon_head_slot 12.0\nbeacon_head_root{instance=\"a\"} -1.2e+18\n"
            "beacon_finalized_epoch 3\nbeacon_current_justified_epoch 4\nlibp2p_peers 2\nother_metric 7\n")
    m = parse_metrics(text)
    assert (m.head_slot, m.finalized_epoch, m.justified_epoch, m.peers, m.head_root) == (12, 3, 4, 2, "-1.2e+18")
    with pytest.raises(ObserveError):
        parse_metrics("libp2p_peers 2\n")
    # A full root and its metrics gauge (int64 of the last 8 bytes, printed as a float) agree.
    root = "0x" + "00" * 24 + (123456789123456789).to_bytes(8, "little").hex()
    assert root_key(root) == root_key("1.2345678912345678e+17") == root_key("123456789123456789")


# The interop's exercises (eth2.0-pm interop/lockin/goals-exercises.md):
# (validators, {node: (role, start, count)}, peering, goal epoch, goal nodes)
EXERCISES = {
    "ex1": (16, {"A-0": ("A", 0, 0), "B-0": ("B", 0, 0)}, {"A-0": ["B-0"]}, None, ["A-0", "B-0"]),
    "ex2": (16, {"A-0": ("A", 0, 16), "B-0": ("B", 0, 0)}, {"A-0": ["B-0"]}, 8, ["B-0"]),
    "ex3": (32, {"A-0": ("A", 0, 32), "B-0": ("B", 0, 0)}, {"A-0": ["B-0"]}, 8, ["B-0"]),
    "ex4": (16, {"A-0": ("A", 0, 8), "B-0": ("B", 8, 8)}, {"A-0": ["B-0"]}, 8, ["A-0", "B-0"]),
    "ex5": (16, {"A-0": ("A", 0, 4), "A-1": ("A", 4, 4), "B-0": ("B", 8, 4), "B-1": ("B", 12, 4)},
            {"A-0": ["A-1", "B-1"], "B-0": ["A-1", "B-1"]}, 8, ["A-0", "A-1", "B-0", "B-1"]),
    "ex6": (32, {"A-0": ("A", 0, 8), "A-1": ("A", 8, 8), "B-0": ("B", 16, 8), "B-1": ("B", 24, 8)},
            {"A-0": ["A-1", "B-1"], "B-0": ["A-1", "B-1"]}, 128, ["A-0", "A-1", "B-0", "B-1"]),
}


@pytest.mark.parametrize("name", sorted(EXERCISES) + ["bonus"])
def test_exercises_are_the_interop_ones(name: str) -> None:
    spec = load_spec(REPO / "exercises" / f"{name}.yaml")
    validators, nodes, peering, epoch, goal_nodes = EXERCISES["ex6" if name == "bonus" else name]
    if name == "bonus":  # exercise 6 plus a node joining about 10 epochs in, syncing from genesis
        nodes = {**nodes, "B-2": ("B", 0, 0)}
        peering = {**peering, "B-2": ["A-0", "B-0"]}
        goal_nodes = goal_nodes + ["B-2"]
        assert [(e.action, e.node, e.at_slot // spec.slots_per_epoch) for e in spec.events] == [("join", "B-2", 10)]
    else:
        assert spec.events == []
    assert spec.preset == "minimal" and spec.validators == validators
    assert {n.id: (n.role, n.validators_start, n.validators_count) for n in spec.nodes} == nodes
    assert spec.peering == peering
    assert spec.goal.finalized_epoch == epoch and sorted(spec.goal.nodes) == sorted(goal_nodes)
    assert spec.goal.peered == (name == "ex1")
    assert spec.clients["A"].name == spec.clients["B"].name == "pybeacon"
    assert spec.time_limit >= spec.genesis_delay + ((epoch or 0) + 2) * spec.slots_per_epoch * spec.seconds_per_slot


def test_check_through_the_pybeacon_dispatcher() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "beacon.cli", "testnet", "--check", "--swap",
                           "--client-b", "lighthouse bn --port {port} --libp2p-addresses {peers}",
                           "--client-b-name", "Lighthouse",
                           # equivocate.yaml needs pybeacon's chaos endpoint in role A (refused otherwise:
                           # test_equivocate_event_and_slashed_goal)
                           *sorted(str(p) for p in (REPO / "exercises").glob("*.yaml") if p.name != "equivocate.yaml")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    # Swapped: Lighthouse plays role A, pybeacon role B.
    assert "A-0    role A (Lighthouse) validators 0:16 -> dials B-0" in proc.stdout
    assert "B-1    role B (pybeacon) validators 24:8" in proc.stdout
    assert proc.stdout.count("goal: finalized epoch 128") == 2


def test_equivocate_event_and_slashed_goal() -> None:
    """The exercise file parses; the chaos flag goes to the equivocating node only; a client other
    than pybeacon cannot equivocate, nor be a goal node of `slashed` unless it has pybeacon's API."""
    from beacon.testnet.runner import TestnetRun
    from beacon.testnet.spec import EQUIVOCATION_FLAG, Client, check_limits

    spec = load_spec(REPO / "exercises" / "equivocate.yaml")
    kinds = {e.validator: e.kind for e in spec.events if e.action == "equivocate"}
    assert kinds == {1: "proposal", 2: "double_vote", 3: "surround_vote"}
    assert spec.goal.slashed == [1, 2, 3]
    assert check_limits(spec) == []
    run = TestnetRun(spec, Path("/nonexistent"))
    assert run.slashing.command_extra("A-0") == [EQUIVOCATION_FLAG]
    assert run.slashing.command_extra("B-0") == []
    other = Client(name="lighthouse", command="lighthouse bn --port {port}", watch="metrics")
    problems = check_limits(dataclasses.replace(spec, clients={"A": other, "B": other}))
    assert any("cannot equivocate" in p and EQUIVOCATION_FLAG in p for p in problems), problems
    assert any("goal.slashed" in p for p in problems), problems
