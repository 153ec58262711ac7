"""Same-run baselines: the code of another git revision, extracted once, run as a child process.

A benchmark measures a figure with this tree and, in the same run, with the baseline revision
(default: main at the time issue 14 was filed; PYBEACON_BENCH_BASELINE=<rev> to change it,
PYBEACON_BENCH_BASELINE=none to skip), so that the two figures share the machine's load.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "5a8bbb9"  # main when issue 14 was filed


def baseline_rev() -> str | None:
    rev = os.environ.get("PYBEACON_BENCH_BASELINE", DEFAULT_BASELINE)
    return None if rev.lower() in ("", "none") else rev


def baseline_tree(rev: str) -> Path | None:
    """The files of `rev` in a temporary directory (extracted once per revision and user);
    None if this is not a git checkout or the revision is unknown."""
    try:
        full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                              check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    dest = Path(tempfile.gettempdir()) / f"pybeacon-baseline-{os.getuid()}-{full[:12]}"
    if not (dest / ".complete").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", full], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        (dest / ".complete").touch()
    return dest


def run_child(script: Path, tree: Path, args: list[str], timeout: float = 1800) -> dict[str, Any]:
    """Run `script --child ARGS` importing `tree`'s beacon package; its last stdout line is JSON."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYBEACON_BENCH_TREE=str(tree))
    proc = subprocess.run([sys.executable, str(script), "--child", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} in {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
