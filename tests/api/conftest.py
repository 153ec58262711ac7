"""One running node for the API tests: 16 validators on 1-second slots, JSON logs, no peers."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.node.helpers import node, write_config  # noqa: E402


@pytest.fixture(scope="session")
def running(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    cfg = write_config(tmp / "sps1.yaml", SECONDS_PER_SLOT=1)
    genesis_time = int(time.time()) + 4
    a = node(tmp, "a", "--interop-validators", "16", "--interop-genesis-time", str(genesis_time),
             "--validators", "0:16", "--config", str(cfg), "--log-format", "json").start()
    try:
        a.wait_for(lambda s: s["head"]["slot"] >= 10, 60, "head slot 10")
        yield a
    finally:
        a.stop()
