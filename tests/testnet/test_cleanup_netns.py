"""Ctrl-C leaves nothing behind; separate hosts in network namespaces (root + iproute2 only)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from beacon.testnet import netns

from .helpers import REPO, harness_argv, processes_mentioning, run_harness, standin_spec

pytestmark = pytest.mark.slow

NETNS_REASON = netns.unavailable_reason()
needs_netns = pytest.mark.skipif(NETNS_REASON is not None, reason=f"--netns path not testable: {NETNS_REASON}")


def our_namespaces(pid: int) -> list[str]:
    return [ns for ns in netns.list_namespaces() if ns.startswith(f"{netns.PREFIX}-{pid}-")]


def interrupt_mid_run(tmp_path: Path, *extra: str) -> tuple[int, Path, list[str], str]:
    """Start a long run, wait until every node polls, SIGINT it; returns (rc, out, ns seen, stdout)."""
    out = tmp_path / "out"
    spec = standin_spec(tmp_path, name="long", goal={"finalized_epoch": 500, "nodes": ["B-0"]}, time_limit=600,
                        nodes=[{"id": "A-0", "role": "A", "validators": "0:16"}, {"id": "B-0", "role": "B"},
                               {"id": "B-1", "role": "B"}],
                        peering={"A-0": ["B-0", "B-1"]})
    log = open(tmp_path / "harness.out", "w+")
    proc = subprocess.Popen(harness_argv(str(spec), "--out", str(out), *extra), cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=str(REPO)))
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = (tmp_path / "harness.out").read_text()
            seen = seen or our_namespaces(proc.pid)
            if " B-1 h" in text and " A-0 h" in text:  # every node is up and answering
                break
            assert proc.poll() is None, text
            time.sleep(0.2)
        else:
            pytest.fail(f"nodes never answered:\n{(tmp_path / 'harness.out').read_text()}")
        assert len(processes_mentioning(str(out))) >= 3  # the three nodes are running
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    return rc, out, seen + [f"pid:{proc.pid}"], (tmp_path / "harness.out").read_text()


def test_sigint_stops_every_node(tmp_path: Path) -> None:
    rc, out, _, text = interrupt_mid_run(tmp_path)
    assert rc == 130, text
    assert processes_mentioning(str(out)) == []
    assert "interrupted; every node stopped" in text
    report = (out / "report.md").read_text()  # the partial run is still reported
    assert "Result: **FAILED**: interrupted" in report


@needs_netns
def test_sigint_removes_namespaces(tmp_path: Path) -> None:
    rc, out, seen, text = interrupt_mid_run(tmp_path, "--netns")
    pid = int(seen[-1].split(":")[1])
    assert rc == 130, text
    assert len(seen) >= 2, "the run had namespaces while it ran"
    assert our_namespaces(pid) == []
    assert processes_mentioning(str(out)) == []


@needs_netns
def test_netns_run_on_separate_addresses_and_stale_cleanup(tmp_path: Path) -> None:
    # A namespace left by a crashed earlier run: its owner PID no longer exists.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{netns.PREFIX}-{dead.pid}-0"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        out = tmp_path / "out"
        spec = standin_spec(tmp_path, name="hosts", goal={"finalized_epoch": 2, "peered": True})
        proc = run_harness(str(spec), "--netns", "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # Cleaned at the start of this run (or of a concurrent one, when tests run in parallel).
        assert stale not in netns.list_namespaces()
        result = json.loads((out / "hosts" / "result.json").read_text())
        assert result["mode"] == "netns"
        a, b = result["nodes"]["A-0"], result["nodes"]["B-0"]
        # Each node had its own address on the private bridge; 10.77.0.x exists only there.
        assert a["ip"] != b["ip"] and a["ip"].startswith("10.77.0.") and b["ip"].startswith("10.77.0.")
        assert f"/ip4/{b['ip']}/tcp/9000/p2p/{b['peer_id']}" in a["command"]
        report = (out / "report.md").read_text()
        assert "separate hosts: one network namespace per node" in report
        assert processes_mentioning(str(out)) == []
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


NETEM_REASON = netns.netem_unavailable_reason() if NETNS_REASON is None else NETNS_REASON


@pytest.mark.skipif(NETEM_REASON is not None, reason=f"tc netem not usable here: {NETEM_REASON}")
def test_netem_latency_is_applied(tmp_path: Path) -> None:
    out = tmp_path / "out"
    spec = standin_spec(tmp_path, name="slow", nodes=[
        {"id": "A-0", "role": "A", "validators": "0:16", "link": {"latency_ms": 40, "jitter_ms": 5, "loss_pct": 1}},
        {"id": "B-0", "role": "B"}])
    proc = run_harness(str(spec), "--netns", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "slow" / "result.json").read_text())
    assert "netem" in result["nodes"]["A-0"]["netem"] and "delay 40ms" in result["nodes"]["A-0"]["netem"]
    assert result["nodes"]["B-0"]["netem"] is None


@pytest.mark.skipif(NETNS_REASON is not None or NETEM_REASON is None,
                    reason="only where namespaces work but the kernel has no sch_netem"
                    if NETNS_REASON is None else f"--netns path not testable: {NETNS_REASON}")
def test_missing_netem_falls_back_to_the_link_relay(tmp_path: Path) -> None:
    spec = standin_spec(tmp_path, nodes=[{"id": "A-0", "role": "A", "validators": "0:16",
                                          "link": {"latency_ms": 40}}, {"id": "B-0", "role": "B"}])
    proc = run_harness(str(spec), "--netns", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "netem unavailable (tc netem is unavailable" in proc.stdout
    result = json.loads((tmp_path / "out" / "pair" / "result.json").read_text())
    assert result["nodes"]["A-0"]["netem"] == "relay: delay 40 ms"
    assert result["faults"]["relays"]["A-0->B-0"]["accepted"] >= 1
    # and with the flag it runs unshaped, saying in the report that the link was not shaped
    proc = run_harness(str(spec), "--netns", "--skip-link-shaping", "--out", str(tmp_path / "out2"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not applied (--skip-link-shaping)" in (tmp_path / "out2" / "report.md").read_text()
