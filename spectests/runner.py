"""Discover vector cases on disk, check them against what was asked for, and run them.

Shared by `pybeacon spectest` (spectests/cli.py) and the pytest collection
(spectests/test_vectors.py), so the two always agree on what a run covers.

Three rules the 2019 clients taught us:
- a case folder with no registered handler is a failure ("no handler for X"), not a skip;
- requested vectors that are not on disk are a failure, never a quiet pass over nothing;
- a skip must carry a reason.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import sys
import time
import traceback
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Iterable, Sequence

from spectests.registry import Case, CaseSkipped, lookup

PRESETS = ("general", "minimal", "mainnet")
PHASE = "phase0"
ENV_BLS = "PYBEACON_BLS"
BLS_BACKENDS = ("fast", "py_ecc")


class VectorsMissing(Exception):
    """Nothing to run at all: the vectors were never fetched (or --vectors points elsewhere)."""


class BadRequest(ValueError):
    """A malformed HANDLER filter, preset or BLS backend name."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """A failure that is not one case's: requested vectors absent, a handler module that won't import."""

    id: str
    message: str


@dataclasses.dataclass(frozen=True)
class Result:
    id: str
    status: str  # "passed", "failed" or "skipped"
    message: str = ""  # first line of the error, or the skip reason
    detail: str = ""  # full traceback for failures (shown with --verbose)


# --- handlers --------------------------------------------------------------------------------

_IMPORT_PROBLEMS: list[Problem] | None = None


def load_handlers() -> list[Problem]:
    """Import every spectests/handlers/*.py once; a module that fails to import is a Problem.

    Importing is what registers the handlers, so a broken module would otherwise surface only
    as a vague "no handler" for its folders.
    """
    global _IMPORT_PROBLEMS
    if _IMPORT_PROBLEMS is None:
        import spectests.handlers as pkg

        problems = []
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            name = f"{pkg.__name__}.{info.name}"
            try:
                importlib.import_module(name)
            except Exception as e:  # any import failure must be reported, whatever it is
                problems.append(Problem(f"handlers/{info.name}", f"{name} failed to import: {first_line(e)}"))
        _IMPORT_PROBLEMS = problems
    return list(_IMPORT_PROBLEMS)


def configure_bls(backend: str | None) -> None:
    """Select the BLS backend for this process and its workers.

    Exported as $PYBEACON_BLS (inherited by worker processes) and, when the crypto layer
    offers it, applied through beacon.crypto.bls.set_backend(name).
    """
    if backend is None:
        return
    if backend not in BLS_BACKENDS:
        raise BadRequest(f"unknown BLS backend {backend!r}; choose from {', '.join(BLS_BACKENDS)}")
    os.environ[ENV_BLS] = backend
    try:
        bls = importlib.import_module("beacon.crypto.bls")
    except ModuleNotFoundError as e:
        if e.name not in ("beacon.crypto.bls",):
            raise
        return  # no BLS layer yet: handlers that need it will fail on their own, loudly
    set_backend = getattr(bls, "set_backend", None)
    if callable(set_backend):
        set_backend(backend)


# --- discovery -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Filter:
    """A HANDLER argument: [preset/]runner[/handler[/suite[/case]]]."""

    text: str
    preset: str | None
    parts: tuple[str, ...]  # runner, handler, suite, case (a prefix of them)

    @classmethod
    def parse(cls, text: str) -> "Filter":
        bits = [b for b in text.strip("/").split("/") if b]
        preset = bits.pop(0) if bits and bits[0] in PRESETS else None
        if not 1 <= len(bits) <= 4:
            raise BadRequest(f"HANDLER must look like runner[/handler[/suite[/case]]], got {text!r}")
        return cls(text, preset, tuple(bits))

    def matches(self, case: Case) -> bool:
        if self.preset is not None and case.preset != self.preset:
            return False
        return (case.runner, case.handler, case.suite, case.name)[: len(self.parts)] == self.parts

    def matches_handler(self, preset: str, runner: str, handler: str) -> bool:
        """Could this filter select cases of preset/runner/handler?"""
        if self.preset is not None and preset != self.preset:
            return False
        return (runner, handler)[: len(self.parts)] == self.parts[:2]

    @property
    def whole_handlers(self) -> bool:
        """True if the filter selects whole handler folders (so case counts can be compared)."""
        return len(self.parts) <= 2


def _subdirs(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def discover(root: Path, presets: Iterable[str]) -> list[Case]:
    """Every case folder tests/<preset>/phase0/<runner>/<handler>/<suite>/<case> under root."""
    cases = []
    for preset in presets:
        for runner in _subdirs(root / "tests" / preset / PHASE):
            for handler in _subdirs(Path(runner.path)):
                for suite in _subdirs(Path(handler.path)):
                    for case in _subdirs(Path(suite.path)):
                        cases.append(Case(preset, runner.name, handler.name, suite.name, case.name, Path(case.path)))
    return cases


def selected_presets(presets: Sequence[str] | None) -> list[str]:
    """general always runs with the chosen presets (default minimal); --preset general alone is general only."""
    chosen = list(presets or ["minimal"])
    for p in chosen:
        if p not in PRESETS:
            raise BadRequest(f"unknown preset {p!r}; choose from {', '.join(PRESETS)}")
    return [p for p in PRESETS if p == "general" or p in chosen]


@dataclasses.dataclass
class Plan:
    root: Path
    presets: list[str]
    cases: list[Case]
    problems: list[Problem]


def plan(root: Path, presets: Sequence[str] | None = None, handlers: Sequence[str] = ()) -> Plan:
    """What a run covers, plus a Problem for everything requested that is not on disk."""
    from spectests.fetch import load_manifest  # local: keeps tarfile/subprocess out of workers

    chosen = selected_presets(presets)
    filters = [Filter.parse(h) for h in handlers]
    if not (root / "tests").is_dir():
        raise VectorsMissing(f"no vectors at {root}; run `pybeacon spectest fetch` "
                             "(or point --vectors DIR / $PYBEACON_VECTORS at a copy)")
    cases = discover(root, chosen)
    if filters:
        cases = [c for c in cases if any(f.matches(c) for f in filters)]
    problems: list[Problem] = []
    fetch_hint = "run `pybeacon spectest fetch --preset {p}{h}`"

    unmatched = [f for f in filters if not any(f.matches(c) for c in cases)]

    def no_match() -> list[Problem]:
        return [Problem(f.text, f"no vectors match {f.text!r} in {', '.join(chosen)} under {root}") for f in unmatched]

    manifest = load_manifest(root)
    if manifest is None:
        problems.extend(no_match())
        # A hand-unpacked tree: all we can check is that each requested preset is there.
        for p in chosen:
            if not filters and not (root / "tests" / p / PHASE).is_dir():
                problems.append(Problem(p, f"preset {p} is not on disk under {root}; " + fetch_hint.format(p=p, h="")))
        return Plan(root, chosen, cases, problems)

    # With the archive's manifest, every requested handler folder must be complete on disk.
    on_disk = Counter(f"{c.preset}/{c.runner}/{c.handler}" for c in cases)
    for p in chosen:
        for rh, n in manifest.get(p, {}).items():
            runner, handler = rh.split("/", 1)
            relevant = [f for f in filters if f.matches_handler(p, runner, handler)]
            if filters and not relevant:
                continue
            if relevant and not any(f.whole_handlers for f in relevant):
                continue  # a suite/case filter: the match check above covers it
            have = on_disk.get(f"{p}/{rh}", 0)
            if have != n:
                h = "" if p == "general" else f" --handlers {rh}"
                what = "not extracted" if have == 0 else "incomplete"
                problems.append(Problem(
                    f"{p}/{rh}", f"{what} ({have} of {n} cases on disk); " + fetch_hint.format(p=p, h=h)))
                # That names the missing folder already; don't report its filter a second time.
                unmatched = [f for f in unmatched if not f.matches_handler(p, runner, handler)]
    problems.extend(no_match())
    return Plan(root, chosen, cases, problems)


# --- running ---------------------------------------------------------------------------------


def first_line(e: BaseException) -> str:
    """'Type: first line of message', or 'Type at file:line' when there is no message."""
    text = str(e).strip()
    if text:
        return f"{type(e).__name__}: {text.splitlines()[0]}"
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}{where}"


def no_handler_message(case: Case) -> str:
    return f"no handler for {case.runner}/{case.handler}"


def run_case(case: Case) -> Result:
    fn = lookup(case.runner, case.handler)
    if fn is None:
        return Result(case.id, "failed", no_handler_message(case))
    try:
        fn(case)
    except CaseSkipped as e:
        reason = str(e).strip()
        if not reason:
            return Result(case.id, "failed", "CaseSkipped raised without a reason")
        return Result(case.id, "skipped", reason)
    except Exception as e:  # every error is a failure of this case, reported, never fatal to the run
        return Result(case.id, "failed", first_line(e), traceback.format_exc())
    return Result(case.id, "passed")


def active_bls() -> str:
    """The backend handlers will use, for the summary line ("?" if there is no BLS layer)."""
    try:
        return str(importlib.import_module("beacon.crypto.bls").get_backend())
    except (ImportError, AttributeError):
        return os.environ.get(ENV_BLS) or "?"


def _worker_init(bls: str | None) -> None:
    configure_bls(bls)
    load_handlers()


def run_cases(cases: Sequence[Case], jobs: int = 1, bls: str | None = None,
              on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Run cases, in worker processes when jobs > 1; results come back in case order."""
    configure_bls(bls)
    load_handlers()
    results: list[Result] = []
    if jobs <= 1 or len(cases) <= 1:
        for case in cases:
            results.append(run_case(case))
            if on_result:
                on_result(results[-1])
        return results
    # Small chunks: a few cases (BeaconState, sanity/blocks) cost far more than the rest.
    size = max(1, min(32, len(cases) // (jobs * 16)))
    chunks = [list(cases[i:i + size]) for i in range(0, len(cases), size)]
    by_id: dict[str, Result] = {}
    # ProcessPoolExecutor rather than multiprocessing.Pool: a worker that dies (a crash in
    # native BLS code, the OOM killer) breaks the pool loudly instead of hanging the run.
    with ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(bls,)) as ex:
        futures = {ex.submit(_run_chunk, chunk): chunk for chunk in chunks}
        for fut in as_completed(futures):
            try:
                got = fut.result()
            except BrokenProcessPool as e:
                got = [Result(c.id, "failed", f"worker process died before this case finished ({e}); "
                              "rerun with -j 1 to find the culprit") for c in futures[fut]]
            for r in got:
                by_id[r.id] = r
                if on_result:
                    on_result(r)
    return [by_id[c.id] for c in cases]


def _run_chunk(cases: list[Case]) -> list[Result]:
    return [run_case(c) for c in cases]


# --- reporting -------------------------------------------------------------------------------

MAX_LISTED = 20  # failing ids listed per handler without --verbose


@dataclasses.dataclass
class Summary:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def line(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def report(cases: Sequence[Case], results: Sequence[Result], problems: Sequence[Problem],
           verbose: bool = False, out: Callable[[str], None] = print) -> Summary:
    """One line per handler, its failures under it; problems count as failures. Returns the totals."""
    groups: dict[str, list[tuple[Case, Result]]] = defaultdict(list)
    for case, res in zip(cases, results):
        groups[f"{case.preset}/{case.runner}/{case.handler}"].append((case, res))
    total = Summary()
    for key in sorted(groups):
        rows = groups[key]
        counts = Counter(r.status for _, r in rows)
        s = Summary(counts["passed"], counts["failed"], counts["skipped"])
        total.passed += s.passed
        total.failed += s.failed
        total.skipped += s.skipped
        line = f"{key}: {s.passed} passed, {s.failed} failed"
        out(line + (f", {s.skipped} skipped" if s.skipped else ""))
        fails = [(c, r) for c, r in rows if r.status == "failed"]
        unhandled = lookup(rows[0][0].runner, rows[0][0].handler) is None
        if unhandled:
            out(f"  {no_handler_message(rows[0][0])} (every case of it fails)")
        else:
            for c, r in fails if verbose else fails[:MAX_LISTED]:
                out(f"  FAIL {c.id}: {r.message}")
                if verbose and r.detail:
                    out("    " + r.detail.rstrip().replace("\n", "\n    "))
            if len(fails) > MAX_LISTED and not verbose:
                out(f"  ... and {len(fails) - MAX_LISTED} more failures (-v lists all)")
        skips = Counter(r.message for _, r in rows if r.status == "skipped")
        for reason, n in sorted(skips.items()):
            out(f"  skipped {n}: {reason}")
    for p in problems:
        out(f"ERROR {p.id}: {p.message}")
        total.failed += 1
    return total


class _Progress:
    """A self-overwriting `n/N cases` line on a terminal, so long mainnet runs show life."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.last = total, 0, 0.0

    def __call__(self, result: Result) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.last >= 0.5 or self.done == self.total:
            self.last = now
            sys.stderr.write(f"\r{self.done}/{self.total} cases")
            sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def run(root: Path, presets: Sequence[str] | None = None, handlers: Sequence[str] = (), jobs: int = 1,
        bls: str | None = None, verbose: bool = False, out: Callable[[str], None] = print) -> int:
    """The whole `pybeacon spectest` run; returns the exit status (1 if anything failed)."""
    started = time.monotonic()
    configure_bls(bls)
    problems = load_handlers()
    p = plan(root, presets, handlers)
    progress = _Progress(len(p.cases)) if sys.stderr.isatty() else None
    results = run_cases(p.cases, jobs=jobs, bls=bls, on_result=progress)
    if progress:
        progress.clear()
    elapsed = time.monotonic() - started
    total = report(p.cases, results, problems + p.problems, verbose=verbose, out=out)
    workers = 1 if jobs <= 1 or len(p.cases) <= 1 else jobs
    out(f"ran {len(p.cases)} cases from {p.root} ({', '.join(p.presets)}) in {elapsed:.1f}s "
        f"on {workers} worker(s), bls {active_bls()}")
    out(total.line)
    return 1 if total.failed else 0
