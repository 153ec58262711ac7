"""`pybeacon testnet SPEC --monitor`: the harness runs the monitor on its nodes (two real pybeacon
nodes on 127.0.0.1, 1-second slots, validators split) and stops it with them (here on Ctrl-C)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.node.helpers import REPO, env, free_ports  # noqa: E402


def spec(tmp: Path) -> Path:
    doc = {"name": "mon", "title": "monitor pair", "preset": "minimal", "config": {"SECONDS_PER_SLOT": 1},
           "validators": 16, "genesis_delay": 10,
           "nodes": [{"id": "A-0", "role": "A", "validators": "0:8"}, {"id": "B-0", "role": "B", "validators": "8:8"}],
           "peering": {"A-0": ["B-0"]}, "goal": {"finalized_epoch": 1, "nodes": ["A-0", "B-0"]}, "time_limit": 90}
    path = tmp / "mon.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_testnet_monitor_flag(tmp_path):
    (port,) = free_ports(1)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "beacon.cli", "testnet", str(spec(tmp_path)), "--monitor",
                             "--monitor-port", str(port), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(), cwd=REPO, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        snap = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                snap = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/snapshot", timeout=3).read())
                if all(n["online"] for n in snap["nodes"]) and len(snap["blocks"]) >= 4:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert snap is not None and {n["name"] for n in snap["nodes"]} == {"A-0", "B-0"}, snap
        assert all(n["online"] for n in snap["nodes"]) and len(snap["blocks"]) >= 4, snap["summary"]
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3).read()
        assert b"cytoscape.min.js" in page
        # Ctrl-C: the harness stops its nodes and the monitor (no need to wait for the goal).
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(20)
    assert proc.returncode == 130, stdout[-3000:]
    assert f"monitor: http://127.0.0.1:{port}/ watching A-0, B-0" in stdout
    assert "watching http://127.0.0.1" in (out / "mon" / "logs" / "monitor.log").read_text()
    with socket.socket() as s:  # the monitor stopped with the run
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_testnet_monitor_refuses_netns(tmp_path):
    r = subprocess.run([sys.executable, "-m", "beacon.cli", "testnet", str(spec(tmp_path)), "--monitor", "--netns"],
                       capture_output=True, text=True, env=env(), cwd=REPO, timeout=60)
    assert r.returncode == 2 and "--monitor watches nodes on 127.0.0.1" in r.stderr, r.stderr
