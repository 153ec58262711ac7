"""Coverage-guided fuzzing of the targets in tests/fuzz/targets.py with atheris (libFuzzer).

    python -m tests.fuzz.campaign one TARGET --runs N | --seconds S --out DIR
        one libFuzzer process on one target: seeds from the official vectors, coverage of
        beacon/ and genesis/ instrumented; writes DIR/TARGET.json (inputs, crashes, hangs) and
        keeps each distinct crash's input and traceback in DIR/crashes/.
    python -m tests.fuzz.campaign all --total 1000000 --jobs 2 --out DIR [--report docs/reliability.md]
        the campaign (`make fuzz`): every target as its own process, at most --jobs at once, the
        inputs shared out by each target's weight; figures to DIR/summary.json and the report.
    python -m tests.fuzz.campaign replay
        runs the regression corpus (tests/fuzz/corpus/TARGET/*) once; exit 1 on any crash.

A crash is any exception other than the target's documented error types. A hang is an input
that took more than HANG_SECONDS of CPU time (CPU, not wall time: the machine is shared, and a
busy neighbour must not turn a fast input into a "hang"). The wrapper catches crashes itself
and goes on, so one campaign counts every crash rather than stopping at the first;
libFuzzer's own -timeout stays as the net for a true infinite loop.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HANG_SECONDS = 1.0
ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
# libFuzzer gives up on an input after this long (a real hang); our hang figure is the 1 s one.
LIBFUZZER_TIMEOUT = 60
REPORT_BEGIN = "<!-- fuzz-campaign:begin -->"
REPORT_END = "<!-- fuzz-campaign:end -->"


def crash_signature(exc: BaseException) -> str:
    """Type and the innermost frame in our code: one entry per distinct bug, not per input."""
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if "/beacon/" in frame.filename or "/genesis/" in frame.filename:
            where = f"{Path(frame.filename).relative_to(ROOT) if frame.filename.startswith(str(ROOT)) else frame.filename}:{frame.lineno}"
    return f"{type(exc).__name__} at {where}"


def run_one(name: str, out: Path, runs: int | None, seconds: float | None, extra: list[str]) -> None:
    import atheris

    out.mkdir(parents=True, exist_ok=True)
    crash_dir = out / "crashes"
    # The targets' datadirs, files and corpus go under `out`, not into /tmp for good.
    (out / "tmp").mkdir(exist_ok=True)
    tempfile.tempdir = str(out / "tmp")
    t_setup = time.perf_counter()
    with atheris.instrument_imports(include=["beacon", "genesis"]):
        from tests.fuzz.targets import TARGETS

        target = TARGETS[name]
        fn = target.setup()
        allowed = target.allowed()
        seeds = target.seeds()
    regress = sorted((CORPUS / name).glob("*")) if (CORPUS / name).is_dir() else []
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-corpus-{name}-"))
    for i, s in enumerate(seeds):
        (corpus / f"seed-{i:04d}").write_bytes(s)
    for p in regress:
        (corpus / f"regress-{p.name}").write_bytes(p.read_bytes())
    setup_seconds = time.perf_counter() - t_setup

    stats: dict[str, Any] = {"target": name, "what": target.what, "inputs": 0, "crashes": 0, "crash_kinds": {},
                             "hangs": 0, "max_input_cpu_s": 0.0, "seeds": len(seeds) + len(regress),
                             "setup_s": round(setup_seconds, 2)}
    start = time.perf_counter()
    last_write = [start]
    stats_path = out / f"{name}.json"

    def write_stats(final: bool) -> None:
        stats["seconds"] = round(time.perf_counter() - start, 2)
        stats["final"] = final
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats, indent=1))
        os.replace(tmp, stats_path)

    def keep(kind: str, data: bytes, text: str) -> None:
        crash_dir.mkdir(exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()[:16]
        (crash_dir / f"{name}-{kind}-{digest}.bin").write_bytes(data)
        (crash_dir / f"{name}-{kind}-{digest}.txt").write_text(text)

    def test_one(data: bytes) -> None:
        cpu0 = time.process_time()
        try:
            fn(data)
        except allowed:
            pass
        except Exception as e:  # noqa: BLE001 - that is what a crash is
            sig = crash_signature(e)
            stats["crashes"] += 1
            if sig not in stats["crash_kinds"]:
                stats["crash_kinds"][sig] = 0
                keep("crash", data, sig + "\n\n" + "".join(traceback.format_exception(e)))
            stats["crash_kinds"][sig] += 1
        cpu = time.process_time() - cpu0
        if cpu > stats["max_input_cpu_s"]:
            stats["max_input_cpu_s"] = round(cpu, 4)
        if cpu > HANG_SECONDS:
            stats["hangs"] += 1
            keep("hang", data, f"{cpu:.2f} s of CPU\n")
        stats["inputs"] += 1
        now = time.perf_counter()
        if (runs is not None and stats["inputs"] >= runs) or (seconds is not None and now - start >= seconds):
            write_stats(True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)  # libFuzzer would exit without running Python's atexit anyway
        if now - last_write[0] > 2.0:
            last_write[0] = now
            write_stats(False)

    args = [sys.argv[0], str(corpus), f"-timeout={LIBFUZZER_TIMEOUT}", "-rss_limit_mb=3072",
            "-print_final_stats=1", *extra]
    if not any(a.startswith("-max_len") for a in extra):
        largest = max([len(s) for s in seeds] + [4096])
        args.append(f"-max_len={min(largest * 2, 1 << 20)}")
    atheris.Setup(args, test_one)
    atheris.Fuzz()


def run_all(total: int, jobs: int, out: Path, only: list[str] | None, report: Path | None) -> int:
    from tests.fuzz.targets import TARGETS

    names = only or list(TARGETS)
    weights = {n: TARGETS[n].weight for n in names}
    wsum = sum(weights.values())
    plan = {n: max(1, round(total * w / wsum)) for n, w in weights.items()}
    # Rounding must not take the campaign under its total.
    plan[names[0]] += max(0, total - sum(plan.values()))
    out.mkdir(parents=True, exist_ok=True)
    pending = sorted(names, key=lambda n: -plan[n] / max(weights[n], 1e-9))  # longest first
    running: dict[int, tuple[str, Any, float]] = {}
    results: dict[str, dict[str, Any]] = {}
    t0 = time.time()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop(0)
            log = open(out / f"{name}.log", "wb")
            cmd = [sys.executable, "-m", "tests.fuzz.campaign", "one", name, "--runs", str(plan[name]),
                   "--out", str(out)]
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
            running[proc.pid] = (name, log, time.time())
            print(f"[{time.time() - t0:7.0f} s] start {name}: {plan[name]} inputs", flush=True)
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        name, log, started = running.pop(pid)
        log.close()
        stats_path = out / f"{name}.json"
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {"target": name, "inputs": 0}
        stats["planned"] = plan[name]
        stats["exit"] = os.waitstatus_to_exitcode(status)
        stats["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # ru_maxrss is in KiB on Linux
        stats["wall_s"] = round(time.time() - started, 1)
        text = (out / f"{name}.log").read_text(errors="replace")
        cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
        if cov:
            stats["cov"], stats["ft"] = int(cov[-1][0]), int(cov[-1][1])
        if stats["exit"] != 0 or not stats.get("final"):
            # libFuzzer stopped the process itself (timeout, out of memory): a crash of its own.
            kind = "timeout" if "timeout" in text else "oom" if "out-of-memory" in text else "abort"
            stats.setdefault("crash_kinds", {})[f"libFuzzer {kind} (exit {stats['exit']})"] = 1
            stats["crashes"] = stats.get("crashes", 0) + 1
        results[name] = stats
        print(f"[{time.time() - t0:7.0f} s] done  {name}: {stats.get('inputs')} inputs, "
              f"{stats.get('crashes')} crashes, {stats.get('hangs')} hangs, {stats['peak_rss_mb']} MB, "
              f"{stats['wall_s']} s", flush=True)
    summary = {"total_inputs": sum(r.get("inputs", 0) for r in results.values()),
               "crashes": sum(r.get("crashes", 0) for r in results.values()),
               "hangs": sum(r.get("hangs", 0) for r in results.values()),
               "wall_s": round(time.time() - t0, 1), "jobs": jobs, "targets": results}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"result: fuzz_inputs {summary['total_inputs']} inputs")
    print(f"result: fuzz_crashes {summary['crashes']} crashes")
    print(f"result: fuzz_hangs {summary['hangs']} hangs")
    if report is not None:
        write_report(report, summary)
    return 0 if summary["crashes"] == 0 and summary["hangs"] == 0 else 1


def write_report(report: Path, summary: dict[str, Any]) -> None:
    rows = ["| target | inputs | crashes | hangs > 1 s CPU | slowest input (CPU s) | peak RSS (MB) | "
            "wall (s) | inputs/s |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in summary["targets"].items():
        rate = r.get("inputs", 0) / max(r.get("seconds", 0) or 1e-9, 1e-9)
        rows.append(f"| {name} | {r.get('inputs', 0):,} | {r.get('crashes', 0)} | {r.get('hangs', 0)} | "
                    f"{r.get('max_input_cpu_s', 0)} | {r.get('peak_rss_mb')} | {r.get('wall_s')} | {rate:,.0f} |")
    rows.append(f"| **all** | **{summary['total_inputs']:,}** | **{summary['crashes']}** | **{summary['hangs']}** | "
                f" | | {summary['wall_s']} | |")
    kinds = [f"- {name}: {k} ({n}x)" for name, r in summary["targets"].items()
             for k, n in r.get("crash_kinds", {}).items()]
    block = "\n".join([REPORT_BEGIN,
                       f"Campaign of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                       f"{summary['jobs']} processes at a time (`make fuzz`):", "", *rows, "",
                       "Crash kinds in this run: " + ("none" if not kinds else ""), *kinds, REPORT_END])
    text = report.read_text() if report.exists() else "# Reliability\n\n"
    if REPORT_BEGIN in text and REPORT_END in text:
        head, rest = text.split(REPORT_BEGIN, 1)
        text = head + block + rest.split(REPORT_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    report.write_text(text)


def replay(dirs: list[Path]) -> list[tuple[str, str, str]]:
    """Run every input under dirs (DIR/TARGET/*) once: (target, file, crash signature) of each crash."""
    from tests.fuzz.targets import TARGETS

    crashes = []
    for base in dirs:
        if not base.is_dir():
            continue
        for tdir in sorted(p for p in base.iterdir() if p.is_dir()):
            target = TARGETS[tdir.name]
            fn = target.setup()
            allowed = target.allowed()
            for f in sorted(tdir.iterdir()):
                try:
                    fn(f.read_bytes())
                except allowed:
                    pass
                except Exception as e:  # noqa: BLE001
                    crashes.append((tdir.name, f.name, crash_signature(e)))
    return crashes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.campaign")
    sub = p.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("one")
    one.add_argument("target")
    one.add_argument("--runs", type=int)
    one.add_argument("--seconds", type=float)
    one.add_argument("--out", type=Path, required=True)
    one.add_argument("libfuzzer", nargs="*", help="extra libFuzzer flags after --")
    a = sub.add_parser("all")
    a.add_argument("--total", type=int, default=1_000_000)
    a.add_argument("--jobs", type=int, default=2)
    a.add_argument("--out", type=Path, default=ROOT / "runs" / "fuzz")
    a.add_argument("--only", nargs="*")
    a.add_argument("--report", type=Path)
    sub.add_parser("replay")
    args = p.parse_args(argv)
    if args.cmd == "one":
        if args.runs is None and args.seconds is None:
            p.error("give --runs or --seconds")
        run_one(args.target, args.out, args.runs, args.seconds, args.libfuzzer)
        return 0
    if args.cmd == "all":
        return run_all(args.total, args.jobs, args.out, args.only, args.report)
    crashes = replay([CORPUS])
    for c in crashes:
        print("crash:", *c)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
