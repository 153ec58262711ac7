"""Short form of the SIGKILL soak (`make soak` runs 100 kills): the validating node of a real
2-node testnet is killed 5 times at random moments (start-up, running, shutdown) and
restarted from its datadir; every restart is clean, the finalized history holds, nothing
slashable was signed (logs and protection DB), and the chain finalizes afterwards."""
from __future__ import annotations

from pathlib import Path

import pytest

from beacon.chaos.soak import soak


@pytest.mark.slow
def test_five_sigkills_of_the_validating_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = soak(kills=5, slot_seconds=1.0, out=tmp_path / "soak", seed=5)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "result: soak_clean_restarts 5 count" in out
    assert "result: soak_slashable_or_unrecorded_signatures 0 count" in out
    assert "result: soak_finalized_after 1 bool" in out
