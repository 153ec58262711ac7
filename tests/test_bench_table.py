"""benchmarks/results_table.py: `make bench`'s table of every `result:` line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_table import parse, table  # noqa: E402


def test_table_pairs_figures_with_their_same_run_baselines(tmp_path: Path) -> None:
    log = tmp_path / "bench.log"
    log.write_text("== benchmarks/bls.py\nnoise\nresult: verify 2.1 ms\nresult: verify_baseline_5a8bbb9 3.3 ms\n"
                   "result: broken line\n== benchmarks/epoch_scale.py\nresult: epoch_mainnet_300000 0.9 s\n"
                   "result: orphan_baseline 1 s\n")
    results = parse(log.read_text().splitlines())
    assert [r[1] for r in results] == ["verify", "verify_baseline_5a8bbb9", "epoch_mainnet_300000", "orphan_baseline"]
    rows = table(results).splitlines()
    assert [c.strip() for c in rows[0].split(" | ")][:3] == ["benchmark", "figure", "value"]
    assert "bls.py" in rows[2] and "2.1 ms" in rows[2] and "3.3 ms (5a8bbb9)" in rows[2]
    assert any("epoch_mainnet_300000" in r and "0.9 s" in r for r in rows)
    assert any("orphan_baseline" in r for r in rows)  # a baseline without its figure stays a row
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks/results_table.py"), str(log)],
                         capture_output=True, text=True, check=True).stdout
    assert "3.3 ms (5a8bbb9)" in out
    empty = tmp_path / "empty.log"
    empty.write_text("nothing here\n")
    assert subprocess.run([sys.executable, str(ROOT / "benchmarks/results_table.py"), str(empty)],
                          capture_output=True).returncode == 1
