"""A short form of exercises/sixteen.yaml through the harness (issue 13): 16 real `pybeacon node`
processes with 4 validators each on 127.0.0.1, 2 s slots instead of 6, epoch 4 finalized by
every node; each node's RSS and CPU time in result.json and report.md."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.testnet.helpers import REPO, harness_argv, processes_mentioning

EXERCISE = REPO / "exercises" / "sixteen.yaml"


@pytest.mark.slow
def test_sixteen_nodes_finalize_at_2s_slots_with_rss_reported(tmp_path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load(EXERCISE.read_text())
    doc["config"] = {"SECONDS_PER_SLOT": 2}
    doc["genesis_delay"] = 50  # 16 interpreters start on 2 cores: ~25 s on a quiet machine
    doc["time_limit"] = "240s"  # ideal: genesis delay + 96 s
    spec = tmp_path / "sixteen.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "out"
    proc = subprocess.run(harness_argv(str(spec), "--out", str(out)), cwd=REPO, capture_output=True, text=True,
                          timeout=420, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    run = out / "sixteen"
    result = json.loads((run / "result.json").read_text())
    ids = [n["id"] for n in doc["nodes"]]
    assert result["reached"] and sorted(result["goal_times"]) == ids, result["reason"]
    for node_id in ids:
        rss = result["nodes"][node_id]["rss"]
        # A pybeacon node with 4 validators: ~125 MB on this machine; sampled every poll (1 s).
        assert rss["samples"] > 30 and 40 < rss["last_mb"] <= rss["peak_mb"] < 1000, (node_id, rss)
        assert 0 < rss["cpu_s"], (node_id, rss)
        log = (run / "logs" / f"{node_id}.log").read_text()
        assert "stopped; databases closed" in log and "Traceback" not in log, (node_id, log[-3000:])
    report = (out / "report.md").read_text()
    assert "Result: **PASSED**" in report and "### Resources" in report
    assert all(f"| {node_id} | " in report.split("### Resources")[1] for node_id in ids)
    sample = json.loads((run / "samples.jsonl").read_text().splitlines()[-1])
    assert sample["rss_kb"] > 40 << 10 and sample["cpu_s"] > 0
    assert processes_mentioning(str(out)) == []
