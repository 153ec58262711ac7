"""Disk faults under a running validating node: the datadir's filesystem fills up, or is
remounted read-only. Wanted: a clear error, a clean stop (non-zero exit), and, once space or
write access is back, a restart from the same datadir that carries on (no corruption, no
slashable signature).

The datadir lives on its own small tmpfs (`mount -t tmpfs -o size=...`), so this needs root
(CAP_SYS_ADMIN). One node, all validators, no p2p, 1 s slots.

    python -m beacon.chaos.disk --out runs/disk
Ends with `result:` lines; exit status 0 only if both scenarios behaved.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from beacon.chaos.audit import audit
from beacon.chaos.procs import Node, make_testnet_files

TMPFS_SIZE = "16m"
RUN_AFTER_FAULT = 30.0  # seconds we wait for the node to notice and stop


@dataclass
class DiskOutcome:
    scenario: str
    exit_code: int | None = None
    stop_seconds: float | None = None  # from the fault to the process exit
    error_lines: list[str] = field(default_factory=list)
    restarted: bool = False
    head_before: int = 0
    head_after_restart: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sigterm_exit: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path) -> None:
    """Write zeros until the filesystem is full (ENOSPC)."""
    with open(path / "filler", "wb") as f:
        chunk = b"\0" * (1 << 16)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    # Whatever is left in page-sized crumbs, too.
    try:
        with open(path / "filler2", "wb") as f:
            while True:
                f.write(b"\0" * 512)
                f.flush()
    except OSError:
        pass


def scenario(name: str, workdir: Path, slot_seconds: float) -> DiskOutcome:
    out = DiskOutcome(name)
    mnt = workdir / "mnt"
    cfg, genesis, genesis_time = make_testnet_files(workdir, slot_seconds, 16, delay=6)
    _mount_tmpfs(mnt, TMPFS_SIZE)
    try:
        # The datadir on the tmpfs, the logs outside it (they must survive the full disk).
        node = Node("a", workdir, ["--genesis", str(genesis), "--config", str(cfg), "--validators", "0:16",
                                   "--no-p2p"], data_root=mnt)
        node.start()
        st = node.wait_for(lambda s: s["head"]["slot"] >= 3, genesis_time - time.time() + 60, "head slot 3")
        out.head_before = st["head"]["slot"]
        t_fault = time.monotonic()
        if name == "disk-full":
            _fill(mnt)
        else:
            # A read-only bind mount over the datadir (a plain `remount,ro` of a filesystem
            # with files open for writing fails with EBUSY). Files the node already has open
            # stay writable: Linux checks write access when a file is opened.
            subprocess.run(["mount", "--bind", "-o", "ro", str(node.datadir), str(node.datadir)], check=True)
        code = node.wait(RUN_AFTER_FAULT)
        if code is None:
            out.notes.append(f"still running {RUN_AFTER_FAULT} s after the fault; stopped with SIGTERM")
            out.sigterm_exit = node.stop()
            if name == "disk-full":
                out.problems.append(f"the node kept running {RUN_AFTER_FAULT} s after the disk filled")
        else:
            out.stop_seconds = round(time.monotonic() - t_fault, 1)
        out.exit_code = node.proc.returncode if node.proc else None
        text = node.log
        out.error_lines = [line[24:200] for line in text.splitlines() if " ERROR " in line or "CRITICAL" in line][:4]
        if "Traceback" in text:
            out.problems.append("a traceback in the log")
        if code is not None and (out.exit_code == 0 or not out.error_lines):
            out.problems.append(f"exit {out.exit_code} with errors {out.error_lines}: want a non-zero exit and an "
                                "ERROR line naming the fault")
        # Space / write access comes back.
        if name == "disk-full":
            for f in ("filler", "filler2"):
                (mnt / f).unlink(missing_ok=True)
        else:
            subprocess.run(["umount", str(node.datadir)], check=True)
        node.start()
        try:
            st = node.wait_for(lambda s: True, 60, "the API after the restart")
            start_head = st["head"]["slot"]
            st = node.wait_for(lambda s: s["head"]["slot"] >= start_head + 3, 30 * slot_seconds + 30, "head to advance")
            out.restarted = True
            out.head_after_restart = st["head"]["slot"]
            if start_head < out.head_before:
                out.problems.append(f"restart came back at head {start_head}, below {out.head_before} before the fault")
        except RuntimeError as e:
            out.problems.append(f"restart failed: {str(e)[:300]}")
        code = node.stop()
        if code != 0:
            out.problems.append(f"the restarted node's SIGTERM exit was {code}")
        report = audit(node.all_logs(), node.datadir)
        out.problems += report.problems
    finally:
        _umount(mnt)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m beacon.chaos.disk", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/disk"))
    p.add_argument("--slot-seconds", type=float, default=1.0)
    p.add_argument("--scenarios", default="disk-full,read-only")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("disk faults need root (mount -t tmpfs)", file=sys.stderr)
        return 2
    ok = True
    for name in args.scenarios.split(","):
        work = args.out / name
        if work.exists():
            shutil.rmtree(work)
        o = scenario(name, work, args.slot_seconds)
        ok = ok and o.ok
        print(f"{name}: exit {o.exit_code} after {o.stop_seconds} s; errors {o.error_lines}; restarted {o.restarted} "
              f"(head {o.head_before} before, {o.head_after_restart} after); notes {o.notes}; problems {o.problems}", flush=True)
        print(f"result: {name}_clean_stop {int(o.exit_code not in (0, None) and bool(o.error_lines))} bool")
        print(f"result: {name}_restart_ok {int(o.restarted)} bool")
        print(f"result: {name}_problems {len(o.problems)} count")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
