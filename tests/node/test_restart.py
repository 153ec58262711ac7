"""Stop node A mid-run, restart it from its datadir: it resumes its duties on its old chain,
and across both runs it never signs a slashable pair (every signature is audited from the
node's own log lines, one per signed message)."""
from __future__ import annotations

import signal
import time

import pytest

from .helpers import make_genesis, node, signed_messages, slashable_pairs, write_config


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_restart_resumes_duties_without_slashable_messages(tmp_path, stop_signal):
    cfg = write_config(tmp_path / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis_time = int(time.time()) + 5
    genesis = make_genesis(tmp_path / "genesis.ssz", 16, genesis_time, cfg)
    a = node(tmp_path, "a", "--genesis", str(genesis), "--config", str(cfg), "--validators", "0:16").start()
    try:
        before = a.wait_for(lambda s: s["finalized"]["epoch"] >= 2 and s["head"]["slot"] % 8 in (3, 4, 5),
                            genesis_time - time.time() + 60, "finality, mid-epoch")
        peer_id = a.multiaddr().rsplit("/", 1)[-1]
        code = a.stop(stop_signal)  # mid-epoch: some of this epoch's duties are done, some are not
        assert code == (-9 if stop_signal == signal.SIGKILL else 0)
        a.start()
        after = a.wait_for(lambda s: True, 30, "status after restart")
        # Resumed from the datadir, not from genesis.
        assert after["head"]["slot"] >= before["head"]["slot"]
        assert after["finalized"]["epoch"] >= before["finalized"]["epoch"]
        assert a.multiaddr().rsplit("/", 1)[-1] == peer_id  # the node key persisted
        final = a.wait_for(lambda s: s["finalized"]["epoch"] >= before["finalized"]["epoch"] + 2, 60,
                           "finality to advance after the restart")
        stats = a.get("/validator/stats")
        assert stats["duties"]["proposal"]["done"] > 0 and stats["duties"]["attestation"]["done"] > 0
        assert final["head"]["slot"] > before["head"]["slot"] + 8
    finally:
        a.kill()
    text = a.all_logs()
    atts, blocks = signed_messages(text)
    first_run = len(signed_messages(a.logs[0].read_text())[0])
    assert first_run > 0 and len(atts) > first_run  # both runs signed attestations
    assert slashable_pairs(text) == []
    assert "Traceback" not in text
