"""A node's start from a genesis file, fresh and again on its datadir: it says when its first slot
is handled (the line benchmarks/node_start.py times), and the genesis state it wrote to LevelDB
is the file's state byte for byte (written through the batch encoder at 64+ validators)."""
from __future__ import annotations

import re
import time

from beacon.config import load_config
from beacon.db import BeaconDB
from beacon.types import get_types

from .helpers import make_genesis, node, write_config

_FIRST = re.compile(r"first slot (\d+) handled, head slot 0; [\d.]+ s CPU since the process started")


def _wait_first_slot(n, log_index: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _FIRST.search(n.logs[log_index].read_text())
        if found:
            return int(found.group(1))
        assert n.proc is not None and n.proc.poll() is None, n.logs[log_index].read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"no first-slot line within {timeout} s:\n{n.logs[log_index].read_text()[-3000:]}")


def test_start_and_restart_log_first_slot_and_store_the_file_state(tmp_path):
    cfg_path = write_config(tmp_path / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis = make_genesis(tmp_path / "genesis.ssz", 64, int(time.time()) - 3, cfg_path)  # slot 3 or so: started
    n = node(tmp_path, "a", "--genesis", str(genesis), "--config", str(cfg_path), "--no-discovery")
    try:
        n.start()
        first = _wait_first_slot(n, 0)
        assert first >= 3
        assert n.stop() == 0
        n.start()
        assert _wait_first_slot(n, 1) > first  # restarted from its datadir, at the running slot
        assert n.stop() == 0
    finally:
        n.kill()
    assert "Traceback" not in n.all_logs()

    cfg = load_config("minimal", str(cfg_path))
    t = get_types(cfg)
    raw = genesis.read_bytes()
    state = t.BeaconState.deserialize(raw)
    root = bytes(t.BeaconBlock(state_root=state.hash_tree_root()).signing_root())
    db = BeaconDB(n.datadir, t, root)
    try:
        stored = db.get_state(root)
    finally:
        db.close()
    assert stored is not None and stored.hash_tree_root() == state.hash_tree_root()
    assert stored.serialize() == raw
