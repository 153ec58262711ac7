"""exercises/partition.yaml, short form, with real pybeacon nodes: split, fork, heal, reorg, finality.

The exercise as written but with 2 s slots, the partition at epoch 2 for 2 epochs and a 20 s
genesis delay (about 2.5 minutes in all). Links carry faults too, so the relays run in the same
test: A-1 sends with 30±10 ms delay, B-0 at 4000 kbit/s, and in namespaces B-0 also loses 2 % of
its packets (nftables). In namespaces (root with iproute2 and nftables) the cut is nftables
drops; otherwise the relays of the links between the groups are cut.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from beacon.testnet import faults, netns

from .helpers import REPO, harness_argv, is_png, processes_mentioning

pytestmark = pytest.mark.slow

USE_NETNS = (netns.unavailable_reason() is None and faults.nft_unavailable_reason() is None
             and os.environ.get("PYBEACON_TEST_NETNS", "1") != "0")


def test_partition_forks_then_reorgs_to_one_chain_and_finality_resumes(tmp_path: Path) -> None:
    doc = yaml.safe_load((REPO / "exercises" / "partition.yaml").read_text())
    doc["config"] = {"SECONDS_PER_SLOT": 2}
    doc["genesis_delay"] = 20
    doc["events"][0].update(at_epoch=2, epochs=2)
    doc["time_limit"] = "240s"
    doc["nodes"][1]["link"] = {"latency_ms": 30, "jitter_ms": 10}
    doc["nodes"][2]["link"] = {"bandwidth_kbps": 4000, **({"loss_pct": 2} if USE_NETNS else {})}
    spec = tmp_path / "partition.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "out"
    started = time.monotonic()
    proc = subprocess.run(harness_argv(str(spec), "--out", str(out), *(["--netns"] if USE_NETNS else [])),
                          cwd=REPO, capture_output=True, text=True, timeout=420,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert time.monotonic() - started < 300
    result = json.loads((out / "partition" / "result.json").read_text())
    assert result["reached"] and set(result["goal_times"]) == {"A-0", "A-1", "B-0", "B-1"}
    (p,) = result["faults"]["partitions"]
    assert p["method"] == ("nftables drop" if USE_NETNS else "relays cut")
    # while cut, the two halves had two heads; after the heal one head, then finality beyond the stall
    assert p["max_heads"] >= 2 and p["split_polls"] >= p["cut_polls"] // 2, p
    assert p["agreed"] is not None and p["agreed"] - p["healed"] < 8 * 2 * 2, p
    assert set(p["finality"]) == {"A-0", "A-1", "B-0", "B-1"}
    assert all(epoch > p["finalized_at_heal"] for _, epoch in p["finality"].values())
    # the losing half reorged onto the other half's chain: more than an epoch of its own blocks
    reorgs = result["faults"]["reorgs"]
    deep = [n for n, r in reorgs.items() if r["reorgs"] >= 1 and r["max_depth"] >= 8]
    assert deep, reorgs
    # nothing slashable, no crash
    audits = result["faults"]["audits"]
    assert set(audits) == {"A-0", "A-1", "B-0", "B-1"} and not any(a["problems"] for a in audits.values())
    assert all(a["db_attestations"] > 0 for a in audits.values())
    for node_id in ("A-0", "A-1", "B-0", "B-1"):
        log = (out / "partition" / "logs" / f"{node_id}.log").read_text()
        assert "stopped; databases closed" in log and "Traceback" not in log, (node_id, log[-3000:])
        # after the heal no proposer packs the other branch's attestations into its block
        assert "was not imported" not in log, (node_id, [ln for ln in log.splitlines() if "not imported" in ln])
        assert result["nodes"][node_id]["starts"] == 1
    for n in deep:
        assert "reorg: head 0x" in (out / "partition" / "logs" / f"{n}.log").read_text()
    # the relays carried the links, shaped as described
    relays = result["faults"]["relays"]
    assert set(relays) == {"A-0->A-1", "A-0->B-1", "B-0->A-1", "B-0->B-1"}
    assert all(r["bytes_up"] > 0 and r["bytes_down"] > 0 for r in relays.values())
    if not USE_NETNS:  # the cut reset the links between the groups, and only those
        assert relays["A-0->B-1"]["cut"] + relays["A-0->B-1"]["refused"] >= 1
        assert relays["A-0->A-1"]["cut"] == relays["A-0->A-1"]["refused"] == 0
    assert "nftables: drop 2%" in result["nodes"]["B-0"]["netem"] if USE_NETNS else True
    assert "relay: delay 30 ms ±10 ms" in result["nodes"]["A-1"]["netem"]
    report = (out / "report.md").read_text()
    for text in ("Result: **PASSED**", "### Faults induced and what the nodes did",
                 "the groups reported different head roots in", "Time to agree (every node on one head root):", "Time to next finality", "nothing slashable",
                 "| A-0->B-1 |"):
        assert text in report, text
    assert processes_mentioning(str(out)) == []
    width, _ = is_png(out / "partition" / "plot.png")
    assert width >= 400
