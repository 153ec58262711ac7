"""Discovery in real `pybeacon` processes: a node that knows only the bootnode's ENR finds it,
connects and follows its chain; `pybeacon enr` shows the record; bad ENRs are one-line errors."""
from __future__ import annotations

import json
import time

import pytest

from tests.node.helpers import assert_one_line_error, make_genesis, node, pybeacon, write_config


def test_malformed_bootnode_and_enr_are_refused(tmp_path):
    dd = tmp_path / "dd"
    r = pybeacon("--interop-validators", "16", "--interop-genesis-time", "0", "--datadir", str(dd),
                 "--bootnode", "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj4")
    assert_one_line_error(r, "--bootnode", "not valid RLP")
    assert not dd.exists()
    r = pybeacon("enr", "enr:AAAA")
    assert_one_line_error(r, "malformed ENR", "not valid RLP")


@pytest.mark.slow
def test_joiner_with_only_the_bootnode_enr_follows(tmp_path):
    cfg = write_config(tmp_path / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis_time = int(time.time()) + 6
    genesis = make_genesis(tmp_path / "genesis.ssz", 16, genesis_time, cfg)
    common = ("--genesis", str(genesis), "--config", str(cfg), "--target-peers", "4")
    boot = node(tmp_path, "boot", *common, "--validators", "0:16").start()
    joiner = None
    try:
        boot.multiaddr()
        deadline = time.monotonic() + 20
        while not (boot.datadir / "enr").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        r = pybeacon("enr", "--datadir", str(boot.datadir), "--json")
        assert r.returncode == 0, r.stderr
        shown = json.loads(r.stdout)
        assert shown["fields"]["ip"] == "127.0.0.1" and shown["fields"]["tcp"] == boot.p2p_port
        assert shown["multiaddr"] == boot.multiaddr()
        joiner = node(tmp_path, "joiner", *common, "--bootnode", shown["enr"]).start()
        boot_id = shown["multiaddr"].rsplit("/", 1)[-1]
        # Either side may dial (the lower node id goes first, see dialer.py).
        joiner.wait_for(lambda s: any(p["id"] == boot_id for p in s["peers"]), 30,
                        "the bootnode among the joiner's peers")
        st = joiner.wait_for(lambda s: s["head"]["slot"] >= 3, genesis_time - time.time() + 20, "head slot 3")
        boot.wait_for(lambda s: s["head"]["slot"] >= st["head"]["slot"], 10, "the boot node's head")
        assert "connected to discovered peer" in joiner.log + boot.log
    finally:
        codes = [n.stop() for n in (joiner, boot) if n is not None]
    assert codes == [0] * len(codes)
    for n in (boot, joiner):
        assert "Traceback" not in n.log and " ERROR " not in n.log, n.tail(60)
