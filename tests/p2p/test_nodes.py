"""Real `pybeacon node` OS processes on 127.0.0.1 (the node engineer's command, which runs
our P2PService): a node started late range-syncs from genesis and then follows by gossip,
and `pybeacon probe` passes every step against a running node."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.node.helpers import node, pybeacon, write_config

pytestmark = pytest.mark.slow


def test_late_node_syncs_from_genesis_follows_gossip_and_probe_passes(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "fast.yaml", SECONDS_PER_SLOT=1)
    genesis = tmp_path / "genesis.ssz"
    made = pybeacon("genesis", "--validators", "16", "--genesis-time", str(int(time.time()) + 4),
                    "--config", str(cfg), "--out", str(genesis))
    assert made.returncode == 0, made.stderr
    common = ["--genesis", str(genesis), "--config", str(cfg)]
    a = node(tmp_path, "a", *common, "--validators", "0:16").start()
    try:
        a.wait_for(lambda s: s["head"]["slot"] >= 24, timeout=120, what="24 blocks on A")
        b = node(tmp_path, "b", *common, "--peer", a.multiaddr()).start()
        try:
            target = a.status()["head"]["slot"]  # type: ignore[index]
            b.wait_for(lambda s: s["head"]["slot"] >= target, timeout=90, what="range sync to A's head")
            assert "range sync from" in b.log  # it came by BeaconBlocks, not by gossip
            # Then B follows A's new blocks by gossip: both report the same head.
            later = a.wait_for(lambda s: s["head"]["slot"] >= target + 5, timeout=60, what="5 more blocks on A")
            st = b.wait_for(lambda s: s["head"]["slot"] >= later["head"]["slot"], timeout=30, what="B following A")
            a_root = a.get(f"/beacon/block?slot={st['head']['slot']}")
            assert st["head"]["root"] in str(a_root)
            peers = st["peers"]
            assert [p["state"] for p in peers] == ["active"] and peers[0]["direction"] == "outbound"

            probe = pybeacon("probe", a.multiaddr(), "--genesis", str(genesis), "--config", str(cfg),
                             "--timeout", "10")
            assert probe.returncode == 0, probe.stdout + probe.stderr
            for step in ("tcp connect", "multistream", "secio", "mplex", "hello", "beacon_blocks",
                         "recent_beacon_blocks", "gossip subscription", "gossip message", "goodbye"):
                assert f"PASS  {step}" in probe.stdout, probe.stdout
            # A is unaffected by the probe's visit and keeps producing.
            slot = a.status()["head"]["slot"]  # type: ignore[index]
            a.wait_for(lambda s: s["head"]["slot"] > slot, timeout=20, what="A still producing")
        finally:
            assert b.stop() == 0, b.tail()
    finally:
        assert a.stop() == 0, a.tail()
    # B's shutdown said Goodbye(1), which A logged.
    assert "said Goodbye (reason 1)" in a.log
