"""Interop exercise 2 in small: node A runs all 16 validators, node B none and dials A; both
are real processes talking libp2p over TCP on 127.0.0.1. B must follow A's chain by gossip
(same head, same finalized checkpoint) and see finality."""
from __future__ import annotations

import signal
import time

import pytest

from .helpers import make_genesis, node, slashable_pairs, write_config

TARGET_EPOCH = 2


@pytest.mark.slow
def test_b_follows_a_to_finality(tmp_path):
    cfg = write_config(tmp_path / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis_time = int(time.time()) + 8
    genesis = make_genesis(tmp_path / "genesis.ssz", 16, genesis_time, cfg)
    a = node(tmp_path, "a", "--genesis", str(genesis), "--config", str(cfg), "--validators", "0:16").start()
    b = None
    try:
        a_addr = a.multiaddr()
        b = node(tmp_path, "b", "--genesis", str(genesis), "--config", str(cfg), "--peer", a_addr).start()
        b.multiaddr()
        a_id = a_addr.rsplit("/", 1)[-1]
        b.wait_for(lambda s: any(p["id"] == a_id for p in s["peers"]), 30, "A among B's peers")
        budget = genesis_time - time.time() + (TARGET_EPOCH + 2) * 8 * 1.0 + 30
        st_b = b.wait_for(lambda s: s["finalized"]["epoch"] >= TARGET_EPOCH, budget, f"finalized epoch {TARGET_EPOCH}")
        # B learned everything from A: the same finalized checkpoint, and A's head within a slot.
        st_a = a.wait_for(lambda s: s["finalized"]["epoch"] >= st_b["finalized"]["epoch"], 10, "A's finality")
        if st_a["finalized"]["epoch"] == st_b["finalized"]["epoch"]:
            assert st_a["finalized"]["root"] == st_b["finalized"]["root"]
        b.wait_for(lambda s: s["head"]["root"] == (a.status() or {}).get("head", {}).get("root"), 10,
                   "B's head equal to A's")
        assert [p["direction"] for p in st_b["peers"]] == ["outbound"]
        assert any(p["id"] == b.multiaddr().rsplit("/", 1)[-1] and p["direction"] == "inbound"
                   for p in a.status()["peers"])
        mb = b.metrics()
        assert mb["libp2p_peers"] == 1
        assert mb["pybeacon_blocks_imported_total"] >= (TARGET_EPOCH + 2) * 8 - 4  # by gossip
        assert mb['pybeacon_duties_total{kind="proposal"}'] == 0  # B has no validators
        assert mb["pybeacon_attestations_imported_total"] > 0  # A's attestations, by gossip
        assert b.get("/validator/stats") == {"validators": 0, "duties": {}}
    finally:
        codes = []
        if b is not None:
            codes.append(b.stop(signal.SIGTERM))
        codes.append(a.stop(signal.SIGTERM))
    assert codes == [0, 0], (a.tail(), b.tail())
    assert "databases closed" in a.log and "databases closed" in b.log
    assert slashable_pairs(a.log) == []
    for n in (a, b):
        assert "Traceback" not in n.log and " ERROR " not in n.log, n.tail(60)
