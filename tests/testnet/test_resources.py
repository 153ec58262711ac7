"""Per-node RSS sampling (beacon/testnet/resources.py) on real processes, and the scale descriptions."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from beacon.testnet.resources import RssSampler, report_lines
from beacon.testnet.scale import layered_peering, layers, scale_description
from beacon.testnet.spec import load_spec, parse_spec
from tests.testnet.helpers import REPO

# A child in its own session that holds ~60 MB, starts a grandchild (same group) holding
# ~30 MB, says "ready" and waits for stdin to close.
HOLDER = ("import subprocess, sys; b = bytearray(60 << 20); "
          "c = subprocess.Popen([sys.executable, '-c', 'import sys; b = bytearray(30 << 20); sys.stdin.read()'], "
          "stdin=subprocess.PIPE); print('ready', flush=True); sys.stdin.read(); c.stdin.close(); c.wait()")


def test_rss_is_summed_over_the_process_group_with_peak_and_last() -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            start_new_session=True, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        sampler = RssSampler()
        assert sampler.available
        kb = {}
        for _ in range(50):  # the grandchild may still be allocating
            kb = sampler.sample({"N-0": proc.pid, "N-1": None}, time.time())
            if kb["N-0"] and kb["N-0"][0] > 95 << 10:
                break
            time.sleep(0.1)
        assert kb["N-0"] is not None and kb["N-0"][0] > 95 << 10, kb  # 60 + 30 MB + two interpreters
        assert 0 < kb["N-0"][1] < 60
        assert kb["N-1"] is None
    finally:
        proc.stdin.close()
        proc.wait(10)
    # Gone: the last value seen while it ran stays, the peak too.
    after = sampler.sample({"N-0": proc.pid, "N-1": None}, time.time())
    assert after["N-0"] is None
    figures = sampler.as_dict()
    assert figures["N-0"]["peak_mb"] >= 95 and figures["N-0"]["last_mb"] >= 95 and figures["N-0"]["samples"] >= 1
    assert figures["N-1"] == {"peak_mb": None, "last_mb": None, "peak_t": None, "samples": 0, "cpu_s": 0.0}
    assert 0 < figures["N-0"]["cpu_s"] < 60
    text = "\n".join(report_lines(figures))
    assert "| N-0 | " in text and "| N-1 | — | — | — | 0 |" in text and "Sum of the peaks" in text
    assert "not sampled" in "\n".join(report_lines({}))


def test_own_pid_is_not_counted_for_another_group() -> None:
    sampler = RssSampler()
    kb = sampler.sample({"me": os.getpgid(0), "nobody": 2**22 + 12345}, time.time())
    assert kb["me"] is not None and kb["me"][0] > 10 << 10 and kb["nobody"] is None


def test_layered_peering_is_shallow_and_connected() -> None:
    assert layers(16) == [[0], [1, 2, 3], list(range(4, 13)), [13, 14, 15]]
    for count in (4, 16, 24, 64):
        peering = layered_peering(count)
        ids = {f"N-{i:02d}" for i in range(count)}
        reached, frontier = {"N-00"}, ["N-00"]
        edges = [(a, b) for a, bs in peering.items() for b in bs]
        while frontier:
            n = frontier.pop()
            for a, b in edges:
                for x, y in ((a, b), (b, a)):
                    if x == n and y not in reached:
                        reached.add(y)
                        frontier.append(y)
        assert reached == ids
        assert all(1 <= len(t) <= 2 for t in peering.values())
        degree = {n: sum(n in e for e in edges) for n in ids}
        assert max(degree.values()) <= 8
        spec = parse_spec(scale_description(count, 4))  # the harness accepts it
        assert len(spec.nodes) == count and spec.validators == 4 * count


def test_sixteen_exercise_is_the_generated_layout() -> None:
    spec = load_spec(REPO / "exercises" / "sixteen.yaml")
    assert len(spec.nodes) == 16 and all(n.validators_count == 4 for n in spec.nodes)
    assert spec.seconds_per_slot == 6 and spec.goal.finalized_epoch == 4 and spec.validators == 64
    assert spec.peering == layered_peering(16)
