"""Client descriptions loaded by name (beacon/testnet/clients/), their limits, and the pairing kit.

Trinity itself cannot be built in CI (its source is not on a package registry), so these check
everything up to starting it: loading, placeholders, log patterns on its real log lines, the
refusals, and the one-line build hint of `make pair-trinity` when it is missing.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from beacon.testnet import catalog, cli, pair
from beacon.testnet.report import finality_conflicts, forks
from beacon.testnet.runner import Sample, expand
from beacon.testnet.spec import DEFAULT_NODE_COMMAND, SpecError, load_spec
from beacon.testnet.status import LogReader, ObserveError, root_key, strip_ansi

from .helpers import REPO

ESC = "\x1b"
# Lines as Trinity (interop branch, c547f4d8) wrote them to ROOT/mainnet/logs-beacon/trinity.log
# and stdout, colour codes included.
TRINITY_LOG = [
    f"{ESC}[1m{ESC}[33m WARNING  2026-11-30 03:12:54,315  plugin(#BeaconNodePlugin)  Node listening: "
    f"/ip4/127.0.0.1/tcp/19555/p2p/16Uiu2HAmA5ENeXZwhDzjr8oCsVTusf9oPGKxTuKCvFb8Hdt1REMZ{ESC}[0m",
    "   DEBUG  2026-11-30 03:13:24,542           BeaconChain  successfully imported block at slot 3 with "
    "signing root 2504..d669",
    "    INFO  2026-11-30 03:13:24,542      BCCReceiveServer  Successfully imported block=0x2504" + "ab" * 28 + "d669",
    f"   DEBUG  2026-11-30 03:14:06,852             Validator  {ESC}[1m{ESC}[32mstatus at slot 41 in epoch 5: "
    f"state_root bb13..a36e, finalized_checkpoint 3, 3fcf..84fa{ESC}[0m",
    "   DEBUG  2026-11-30 03:14:06,852             Validator  status at slot 41 in epoch 5: "
    "previous_justified_checkpoint 3, 3fcf..84fa, current_justified_checkpoint 4, 77e1..0b2c",
]


@pytest.fixture
def peers_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A shared scripts folder and an empty install folder, as on a machine without Trinity."""
    shared, installed = tmp_path / "shared peers", tmp_path / "installed"
    (shared / "trinity").mkdir(parents=True)
    installed.mkdir()
    monkeypatch.setenv("PYBEACON_PEERS_SHARED", str(shared))
    monkeypatch.setenv("PEERS_DIR", str(installed))
    return shared, installed


def test_descriptions_load_by_name() -> None:
    assert {"pybeacon", "trinity"} <= set(catalog.names())
    mine = catalog.load_client("pybeacon")
    assert mine.command == DEFAULT_NODE_COMMAND and mine.watch == "status" and mine.genesis == "shared"
    t = catalog.load_client("trinity")
    assert t.name == "trinity" and t.watch == "log" and t.genesis == "own"
    assert (t.limits.validators, t.limits.seconds_per_slot, t.limits.preset, t.limits.netns) == (16, 6, "minimal", False)
    assert t.log_file == "{datadir}/mainnet/logs-beacon/trinity.log" and t.min_genesis_delay >= 30
    assert t.notes and t.build_hint.startswith("Trinity is not built: run ")
    with pytest.raises(SpecError, match="no client description 'trinityy': known names are pybeacon, trinity"):
        catalog.load_client("trinityy")


def test_trinity_placeholders_expand(peers_env: tuple[Path, Path]) -> None:
    shared, installed = peers_env
    t = catalog.load_client("trinity")
    words = {"datadir": "/r/B-0", "port": "9001", "genesis_time": "1567777777", "validator_list": "8,9,10",
             "peers": "/ip4/127.0.0.1/tcp/9000/p2p/16UiuA,/ip4/127.0.0.1/tcp/9002/p2p/16UiuB"}
    script = str(shared / "trinity" / "run-node.sh")  # a folder with a space stays one argument
    assert expand(t.command, words, {}) == [script, "/r/B-0", "9001", "1567777777", "8,9,10", words["peers"]]
    # a node that dials nobody gets no empty MULTIADDR argument
    assert expand(t.command, dict(words, peers="", validator_list="none"), {}) == [
        script, "/r/B-0", "9001", "1567777777", "none"]
    assert expand(t.cleanup or "", words, {}) == [script, "--cleanup", "/r/B-0"]
    assert t.requires == str(installed / "trinity" / "venv" / "bin" / "trinity-beacon")
    q = shlex.quote(str(shared))
    assert catalog.missing(t) == (f"Trinity is not built: run {q}/trinity/build.sh TRINITY.git PY-LIBP2P.git "
                                  "(git copies of ethereum/trinity and libp2p/py-libp2p; see "
                                  f"{q}/trinity/README.md)")
    exe = installed / "trinity" / "venv" / "bin" / "trinity-beacon"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    assert catalog.missing(t) is None


def test_trinity_log_patterns_read_its_real_lines(tmp_path: Path) -> None:
    t = catalog.load_client("trinity")
    log = tmp_path / "trinity.log"
    log.write_text(TRINITY_LOG[0] + "\n")
    reader = LogReader(log, t.log_patterns)
    with pytest.raises(ObserveError, match="nothing in the log matched its patterns yet"):
        reader.observe()
    # Before any block (a node without validators): answering, head unknown, finality from its status line
    with open(log, "a") as f:
        f.write(TRINITY_LOG[4].replace("checkpoint 4", "checkpoint 0") + "\n")
    obs = reader.observe()
    assert obs.head_slot is None and obs.justified_epoch == 0
    log.write_text("\n".join(TRINITY_LOG) + "\n")
    obs = LogReader(log, t.log_patterns).observe()
    assert (obs.head_slot, obs.head_root) == (3, "2504..d669")
    assert (obs.justified_epoch, obs.finalized_epoch, obs.finalized_root) == (4, 3, "3fcf..84fa")
    # the address announcement is found once the colour codes are gone
    m = re.search(t.multiaddr_pattern, strip_ansi(TRINITY_LOG[0]))
    assert m and m.group("peer_id") == "16Uiu2HAmA5ENeXZwhDzjr8oCsVTusf9oPGKxTuKCvFb8Hdt1REMZ"
    # ... and not in the peers it was told to dial, which it logs before it listens
    dialling = ("    INFO  2026-11-30 03:24:59,859     DiscoveryProtocol  Preferred peers: (<Multiaddr /ip4/127.0.0.1/"
                "tcp/48333/p2p/16Uiu2HAm9wuMe1bSXN6SpJnaRqdqXTAPn7n2mQv7xejKvBW4YabV>,)")
    assert re.search(t.multiaddr_pattern, dialling) is None


def test_abbreviated_roots_compare_with_full_ones() -> None:
    full = "0x2504" + "ab" * 28 + "d669"
    assert root_key(full, abbreviated=True) == root_key("2504..d669", abbreviated=True) == "2504..d669"
    other = "0x9999" + "ab" * 28 + "d669"
    samples = [Sample(1.0, "A-0", True, head_slot=3, head_root=full, finalized_epoch=2, finalized_root=full),
               Sample(1.0, "B-0", True, head_slot=3, head_root="2504..d669", finalized_epoch=2,
                      finalized_root="2504..d669"),
               Sample(2.0, "A-0", True, head_slot=4, head_root=other, finalized_epoch=3, finalized_root=other),
               Sample(2.0, "B-0", True, head_slot=4, head_root="2504..d669", finalized_epoch=3,
                      finalized_root="2504..d669")]
    assert [slot for slot, _ in forks(samples)] == [4]
    assert [epoch for epoch, _ in finality_conflicts(samples)] == [3]


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main([*argv, "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line
    return err


def test_what_trinity_cannot_do_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = REPO / "exercises"
    assert refusal(capsys, str(ex / "ex6.yaml"), "--client-b", "trinity") == (
        "pybeacon testnet: refused: ex6: trinity (role B) runs only a 16-validator genesis (it builds its own "
        "quick-start genesis with validators 0-15 and has keys for no others); ex6 has 32 validators")
    assert "trinity (role A) cannot run in a network namespace (run-node.sh listens on 127.0.0.1 only); " \
           "run without --netns" in refusal(capsys, str(ex / "ex2.yaml"), "--client-a", "trinity", "--netns")
    fast = tmp_path / "fast.yaml"
    fast.write_text((ex / "ex4.yaml").read_text() + "config: {SECONDS_PER_SLOT: 2}\n")
    assert "trinity (role B) runs only 6 s slots (its interop mode fixes the minimal preset with 6 s slots); " \
           "ex4 asks for 2 s slots" in refusal(capsys, str(fast), "--client-b", "trinity")
    # a late Trinity cannot catch up: the late joiner is refused with Trinity in the joining role
    assert "trinity (role B) cannot join (B-0 at slot 24) (run-node.sh wipes its chain" in refusal(
        capsys, str(ex / "late.yaml"), "--client-b", "trinity")
    # what it can do passes, and its start-up time moves genesis later
    assert cli.main([str(ex / "ex5.yaml"), "--client-a", "trinity", "--check"]) == 0
    out = capsys.readouterr().out
    assert "role A (trinity)" in out and "role B (pybeacon)" in out
    spec = cli._apply_overrides(load_spec(ex / "ex2.yaml"), cli_args("--client-b", "trinity", "--finalized-epoch", "4"))
    assert spec.genesis_delay == 60 and spec.goal.finalized_epoch == 4 and spec.clients["B"].name == "trinity"


def cli_args(*argv: str):
    import argparse

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(["x.yaml", *argv])


def test_missing_trinity_gives_the_build_hint(peers_env: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    shared, _ = peers_env
    out = tmp_path / "out"
    assert cli.main([str(REPO / "exercises" / "ex2.yaml"), "--client-b", "trinity", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pybeacon testnet: Trinity is not built: run ") and err.count("\n") == 1
    assert not out.exists()
    # `make pair-trinity`: the same line and a non-zero exit, before anything runs
    if shutil.which("make") is None:
        pytest.skip("make is not installed: the Makefile target was not run")
    proc = subprocess.run(["make", "-s", "-C", str(REPO), "pair-trinity", f"PY={sys.executable}", "STAMP="],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("make")]
    assert lines == [catalog.missing(catalog.load_client("trinity"))], proc.stderr


def test_pair_plan_and_summary(tmp_path: Path) -> None:
    labels = [r.label for r in pair.plan()]
    assert labels == ["ex1-pybeacon-A", "ex1-pybeacon-B", "ex2-pybeacon-A", "ex2-pybeacon-B", "ex4-pybeacon-A",
                      "ex4-pybeacon-B", "late-pybeacon-B"]
    late = pair.plan()[-1]
    args = pair.harness_args(late, "trinity", tmp_path, 4)
    assert args[1:3] == ["--client-a", "trinity"] and args[args.index("--finalized-epoch") + 1] == "4"
    ex1 = pair.harness_args(pair.plan()[0], "trinity", tmp_path, 4)
    assert "--finalized-epoch" not in ex1 and ex1[ex1.index("--goal-hold") + 1] == "60s"  # ex1: peered, held
    # a run folder as the harness leaves it
    run_dir = tmp_path / "ex2-pybeacon-A" / "ex2"
    run_dir.mkdir(parents=True)
    run_dir.joinpath("result.json").write_text(json.dumps({
        "reached": True, "reason": "goal reached", "genesis_time": 1000, "first_finality": {"B-0": 1300.0},
        "started": 1567777777.0,
        "nodes": {"A-0": {"client": "pybeacon"}, "B-0": {"client": "trinity"}}}))
    root = "0x3fcf" + "00" * 28 + "84fa"
    run_dir.joinpath("samples.jsonl").write_text("\n".join(json.dumps(s) for s in [
        {"t": 1400.0, "node": "A-0", "ok": True, "head_slot": 40, "finalized_epoch": 4, "finalized_root": root},
        {"t": 1400.0, "node": "B-0", "ok": True, "head_slot": 40, "finalized_epoch": 4, "finalized_root": "3fcf..84fa"},
    ]) + "\n")
    path = pair.write_summary("trinity", tmp_path, pair.plan()[2:4], {"ex2-pybeacon-A": 0}, 4)
    text = path.read_text()
    assert ("| ex2-pybeacon-A | A | yes | goal reached (run 2019-09-06 13:49 UTC) | "
            "A-0 (pybeacon) f4; B-0 (trinity) f4, first at 300 s | 0 "
            "| same for epochs 4-4 |") in text
    assert "| ex2-pybeacon-B | B | **no** | not run |" in text


def test_trinity_genesis_is_checked_against_genesis_ssz(tmp_path: Path) -> None:
    """The state root Trinity logs for the genesis it built is compared with the harness's genesis.ssz."""
    from beacon.testnet.runner import TestnetRun

    spec = cli._apply_overrides(load_spec(REPO / "exercises" / "ex2.yaml"), cli_args("--client-b", "trinity"))
    tn = TestnetRun(spec, tmp_path / "run", echo=open(os.devnull, "w"))
    tn.prepare()
    try:
        with open(tmp_path / "run" / "logs" / "genesis.log", "wb") as log:  # as make_genesis runs it
            proc = subprocess.run([sys.executable, "-m", "beacon.cli", "genesis", "--validators", "16",
                                   "--genesis-time", "1567777777", "--out", str(tmp_path / "run" / "genesis.ssz")],
                                  stdout=log, stderr=subprocess.STDOUT, timeout=120,
                                  env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert proc.returncode == 0
        ours = (tmp_path / "run" / "logs" / "genesis.log").read_text().split("state root ")[1].split()[0]
        rt = tn.nodes["B-0"]
        log = rt.datadir / "mainnet" / "logs-beacon" / "trinity.log"
        log.parent.mkdir(parents=True)
        log.write_text(f"    INFO  2026-11-30 03:16:13,100  plugin(#InteropPlugin)  Genesis hash tree root: {ours[2:]}\n"
                       + TRINITY_LOG[1] + "\n")
        rt.state = "running"
        sample = tn.observe(rt, 0.0)
        assert sample.ok and sample.head_slot == 3
        assert any(f"B-0 (trinity) built the same genesis state as genesis.ssz: {ours}" in text
                   for _, text in tn.timeline) and not tn.problems
        other = TestnetRun(spec, tmp_path / "run", echo=open(os.devnull, "w"))
        other.check_genesis(rt, "35d1612499a80047254dd8309cd7c162eb2bc8a8fcd357512fbed91d467c5cde")
        assert other.problems == [f"B-0 (trinity) built genesis state 0x35d1612499a80047254dd8309cd7c162eb2bc8a8fcd"
                                  f"357512fbed91d467c5cde, but genesis.ssz is {ours}: the two sides start from "
                                  "different chains"]
    finally:
        tn.cleanup()


def test_a_node_announcing_its_peers_id_is_refused(tmp_path: Path) -> None:
    """A multiaddr pattern that matches the address a client was told to dial must not pass silently."""
    from beacon.testnet.runner import RunError, TestnetRun

    spec = load_spec(REPO / "exercises" / "ex1.yaml")
    tn = TestnetRun(spec, tmp_path / "run", echo=open(os.devnull, "w"))
    tn.prepare()
    try:
        a, b = tn.nodes["A-0"], tn.nodes["B-0"]
        b.peer_id = "16Uiu2HAm9wuMe1bSXN6SpJnaRqdqXTAPn7n2mQv7xejKvBW4YabV"
        a.log_path.write_text(f"dialling /ip4/127.0.0.1/tcp/{b.port}/p2p/{b.peer_id}\n")
        with pytest.raises(RunError, match="A-0 \\(pybeacon\\) seems to announce B-0's peer id 16Uiu2HAm9wu"):
            tn.wait_announced([a])
    finally:
        tn.cleanup()
