"""py-spy flame graphs (SVG) of the hot paths, for docs/performance.md. Not run by `make bench`.

    python benchmarks/flamegraphs.py [--out docs/flame] [--seconds 20] [TARGET ...]

Each target (benchmarks/_profile_targets.py) builds its inputs, then loops; py-spy attaches to
it only after that (so set-up is not in the graph), samples for --seconds, and the target is
stopped. py-spy needs ptrace rights (root, or kernel.yama.ptrace_scope=0).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from _profile_targets import SUBPROCESS_TARGETS, TARGETS  # noqa: E402


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy not found: pip install -e '.[bench]' (make bench does)")
    return found


def record(target: str, out: Path, seconds: int) -> None:
    proc = subprocess.Popen([sys.executable, str(HERE.with_name("_profile_targets.py")), target],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip() != "READY":
            raise SystemExit(f"{target}: did not get ready (exit {proc.poll()})")
        extra = ["--subprocesses"] if target in SUBPROCESS_TARGETS else []
        subprocess.run([py_spy(), "record", "--pid", str(proc.pid), "--duration", str(seconds),
                        "--rate", "200", "--format", "flamegraph", "--output", str(out), "--nonblocking", *extra],
                       check=True, capture_output=True)
    finally:
        proc.kill()
        proc.wait()
    print(f"{target}: {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE.parents[1] / "docs" / "flame"))
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("targets", nargs="*", default=list(TARGETS))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for target in args.targets:
        if target not in TARGETS:
            raise SystemExit(f"unknown target {target}; choose from {', '.join(TARGETS)}")
        record(target, out / f"{target}.svg", args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
