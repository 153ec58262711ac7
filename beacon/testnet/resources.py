"""Per-node resource figures for a run: resident memory (RSS) from /proc, peak and last, and
the CPU time the node's processes have used.

A node is a process group (the harness starts each node in its own session); its RSS is the
sum of VmRSS over the group's processes, so a wrapper (`ip netns exec`, a client's shell
script) and what it starts are counted together. One scan of /proc per poll serves all nodes.
On a system without /proc nothing is sampled and the report says so.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

PROC = Path("/proc")


@dataclass
class NodeRss:
    peak_kb: int = 0
    last_kb: Optional[int] = None  # None: not sampled yet, or its processes are gone
    peak_t: Optional[float] = None
    samples: int = 0
    cpu_s: float = 0.0  # user + system CPU seconds of its live processes at the last sample

    def as_dict(self) -> dict[str, Optional[float]]:
        return {"peak_mb": round(self.peak_kb / 1024, 1) if self.samples else None,
                "last_mb": None if self.last_kb is None else round(self.last_kb / 1024, 1),
                "peak_t": self.peak_t, "samples": self.samples, "cpu_s": round(self.cpu_s, 2)}


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _pgid_rss_cpu(pid_dir: Path, pgids: set[int]) -> Optional[tuple[int, int, float]]:
    """(process group id, VmRSS in kB, CPU seconds) of one /proc/<pid> in one of `pgids`, or None."""
    try:
        stat = (pid_dir / "stat").read_text()
        # The command name is in parentheses and may hold spaces: split after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        pgid = int(fields[2])
        if pgid not in pgids:
            return None
        cpu = (int(fields[11]) + int(fields[12])) / _TICK
        with open(pid_dir / "status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return pgid, int(line.split()[1]), cpu
    except (OSError, ValueError, IndexError):
        return None
    return None  # no VmRSS line: a kernel thread or a zombie


def usage_by_group(pgids: set[int], proc: Path = PROC) -> dict[int, tuple[int, float]]:
    """pgid -> (summed VmRSS in kB, summed CPU seconds) of its live processes, for the groups asked about."""
    out: dict[int, tuple[int, float]] = {}
    try:
        entries = os.listdir(proc)
    except OSError:
        return out
    for name in entries:
        if not name.isdigit():
            continue
        got = _pgid_rss_cpu(proc / name, pgids)
        if got is not None:
            kb, cpu = out.get(got[0], (0, 0.0))
            out[got[0]] = (kb + got[1], cpu + got[2])
    return out


@dataclass
class RssSampler:
    """Peak and last RSS per node id over a run."""
    nodes: dict[str, NodeRss] = field(default_factory=dict)
    available: bool = field(default_factory=lambda: (PROC / "self" / "status").exists())

    def sample(self, groups: Mapping[str, Optional[int]], now: float) -> dict[str, Optional[tuple[int, float]]]:
        """groups: node id -> process group id (None: not running).
        Returns node id -> (RSS in kB, CPU seconds) now, or None."""
        for node_id in groups:
            self.nodes.setdefault(node_id, NodeRss())
        if not self.available:
            return {n: None for n in groups}
        live = {n: g for n, g in groups.items() if g is not None}
        by_group = usage_by_group(set(live.values()))
        now_kb: dict[str, Optional[tuple[int, float]]] = {}
        for node_id, g in groups.items():
            rec = self.nodes[node_id]
            got = by_group.get(g) if g is not None else None
            now_kb[node_id] = got
            if got is None:
                continue  # keep the last value seen while it ran
            kb = got[0]
            rec.last_kb = kb
            rec.cpu_s = got[1]
            rec.samples += 1
            if kb > rec.peak_kb:
                rec.peak_kb, rec.peak_t = kb, now
        return now_kb

    def as_dict(self) -> dict[str, dict[str, Optional[float]]]:
        return {n: r.as_dict() for n, r in self.nodes.items()}

    def total_peak_mb(self) -> float:
        return sum(r.peak_kb for r in self.nodes.values()) / 1024


def report_lines(rss: Mapping[str, Mapping[str, Optional[float]]]) -> list[str]:
    """The "Resources" part of an exercise's section in report.md."""
    lines = ["### Resources", ""]
    if not rss or not any(r.get("samples") for r in rss.values()):
        return lines + ["Resident memory not sampled (no /proc on this system, or no node ran).", ""]
    lines += ["Resident memory (VmRSS summed over the node's process group), sampled at every poll; "
              "last = the last poll while the node ran; CPU = user + system time of its processes by then.", "",
              "| node | peak RSS | last RSS | CPU time | samples |", "| --- | --- | --- | --- | --- |"]
    for node_id, r in rss.items():
        peak = f"{r['peak_mb']:.1f} MB" if r.get("peak_mb") is not None else "—"
        last = f"{r['last_mb']:.1f} MB" if r.get("last_mb") is not None else "—"
        cpu = f"{r['cpu_s']:.1f} s" if r.get("samples") else "—"
        lines.append(f"| {node_id} | {peak} | {last} | {cpu} | {r.get('samples', 0)} |")
    peaks = [r["peak_mb"] for r in rss.values() if r.get("peak_mb") is not None]
    lines += ["", f"Sum of the peaks: {sum(peaks):.0f} MB over {len(peaks)} nodes "
              f"(largest {max(peaks):.1f} MB).", ""]
    return lines
