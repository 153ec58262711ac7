"""Disk faults under a running validating node (a real process, its datadir on a small
tmpfs): the disk fills up, or the datadir becomes read-only. The node must say so in one
ERROR line, stop with a non-zero exit, and start again from the same datadir once space or
write access is back, with nothing slashable signed."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from beacon.chaos.disk import scenario


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                    reason="mounting a tmpfs for the datadir needs root and mount(8)")
@pytest.mark.parametrize("name", ["disk-full", "read-only"])
def test_storage_fault_stops_cleanly_and_the_restart_works(tmp_path: Path, name: str) -> None:
    o = scenario(name, tmp_path, slot_seconds=1.0)
    assert o.problems == [], o
    assert o.exit_code == 2 and o.stop_seconds is not None and o.stop_seconds < 5, o
    assert any("cannot write to" in line for line in o.error_lines), o
    assert o.restarted and o.head_after_restart >= o.head_before + 3, o
