"""Collect the `result: NAME VALUE UNIT` lines of a benchmark log into one table.

    python benchmarks/results_table.py LOG

`make bench` tees every benchmark's output into one log and prints this table at the end.
A line `== benchmarks/x.py` (what `make bench` prints before each script) names the source.
A result whose name ends in `_baseline_<rev>` is shown beside the figure it is the baseline of.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

_RESULT = re.compile(r"^result:\s+(\S+)\s+(\S+)\s+(\S+)\s*$")
_BASELINE = re.compile(r"^(.*)_baseline(?:_(.+))?$")


def parse(lines: list[str]) -> list[tuple[str, str, str, str]]:
    """(source, name, value, unit) for every well-formed result line, in order."""
    source = "?"
    out = []
    for line in lines:
        if line.startswith("== "):
            source = Path(line[3:].strip()).name
            continue
        m = _RESULT.match(line.strip())
        if m:
            out.append((source, *m.groups()))
    return out


def table(results: list[tuple[str, str, str, str]]) -> str:
    figures: dict[str, list[str]] = {}
    order: list[str] = []
    baselines: dict[str, str] = {}
    for source, name, value, unit in results:
        m = _BASELINE.match(name)
        if m and any(n == m.group(1) for _, n, _, _ in results):
            baselines[m.group(1)] = f"{value} {unit}" + (f" ({m.group(2)})" if m.group(2) else "")
            continue
        figures[name] = [source, name, f"{value} {unit}"]
        order.append(name)
    rows = [["benchmark", "figure", "value", "same-run baseline"]]
    rows += [figures[n] + [baselines.get(n, "")] for n in order]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    results = parse(Path(argv[0]).read_text(errors="replace").splitlines())
    if not results:
        print("no result: lines found", file=sys.stderr)
        return 1
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
