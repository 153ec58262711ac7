"""pytest collection of the v0.8.3 vectors: one test per case, id preset/runner/handler/suite/case.

Same discovery, checks and registry as `pybeacon spectest`. general + minimal by default;
mainnet too when PYBEACON_SPECTEST_MAINNET=1 (then it must be on disk: fetch it first).
Vectors come from spectests.vectors_root() ($PYBEACON_VECTORS or the cache). Anything
requested but absent (no vectors at all, a preset or handler folder missing, a handler
module that will not import) is a failing test of its own, never an empty collection.

Collection reads no case files, only folder names, so thousands of cases collect quickly.
"""
from __future__ import annotations

import os

import pytest

from spectests import runner, vectors_root
from spectests.registry import Case, CaseSkipped, lookup

ENV_MAINNET = "PYBEACON_SPECTEST_MAINNET"


def _collect() -> tuple[list[Case], list[runner.Problem]]:
    presets = ["minimal"] + (["mainnet"] if os.environ.get(ENV_MAINNET) == "1" else [])
    problems = runner.load_handlers()
    try:
        found = runner.plan(vectors_root(), presets)
    except runner.VectorsMissing as e:
        return [], problems + [runner.Problem("vectors", str(e))]
    return found.cases, problems + found.problems


CASES, PROBLEMS = _collect()


# Each test is defined only when it has parameters: an empty parametrize is a quiet skip.
if CASES:

    @pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
    def test_case(case: Case) -> None:
        fn = lookup(case.runner, case.handler)
        if fn is None:
            pytest.fail(runner.no_handler_message(case), pytrace=False)
        try:
            fn(case)
        except CaseSkipped as e:
            reason = str(e).strip()
            if not reason:
                pytest.fail("CaseSkipped raised without a reason", pytrace=False)
            pytest.skip(reason)


if PROBLEMS:

    @pytest.mark.parametrize("problem", PROBLEMS, ids=[p.id for p in PROBLEMS])
    def test_requested_vectors(problem: runner.Problem) -> None:
        pytest.fail(problem.message, pytrace=False)
