"""Fuzzing in the suite: the regression corpus, a short coverage-guided run of every target, and
Hypothesis properties on structured SSZ values.

The short run gives each target SHORT_RUN_SECONDS of atheris after its seeds and corpus; the
million-input campaign is `make fuzz` (figures in docs/reliability.md).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import ssz as pyssz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.campaign import CORPUS, HANG_SECONDS, ROOT, crash_signature
from beacon.ssz.pyssz import sedes_of
from tests.fuzz.targets import _PYSSZ_SKIP, TARGETS, container_names

# 10 s a target (12 targets: ~2 min of CPU, ~1 min on two xdist workers) already runs
# thousands to hundreds of thousands of mutated inputs each; depth is the campaign's job.
SHORT_RUN_SECONDS = float(os.environ.get("PYBEACON_FUZZ_SECONDS", "10"))


def _replay(target: str, files: list[Path]) -> list[str]:
    t = TARGETS[target]
    fn = t.setup()
    allowed = t.allowed()
    crashes = []
    for f in files:
        cpu = time.process_time()
        try:
            fn(f.read_bytes())
        except allowed:
            pass
        except Exception as e:  # noqa: BLE001 - a crash
            crashes.append(f"{f.name}: {crash_signature(e)}")
        cpu = time.process_time() - cpu
        if cpu > HANG_SECONDS:
            crashes.append(f"{f.name}: hang, {cpu:.2f} s of CPU")
    return crashes


@pytest.mark.parametrize("target", sorted(p.name for p in CORPUS.iterdir() if p.is_dir()))
def test_regression_corpus(target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input that once crashed a target (or took over 1 s) is refused cleanly and quickly now."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the targets' datadirs and files
    files = sorted((CORPUS / target).iterdir())
    assert files
    assert _replay(target, files) == []


@pytest.mark.parametrize("target", list(TARGETS))
def test_short_fuzz_run(target: str, tmp_path: Path) -> None:
    """SHORT_RUN_SECONDS of coverage-guided fuzzing in its own process: no crash, no hang."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYBEACON_CACHE_DIR=str(tmp_path / "keys"))
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz.campaign", "one", target, "--seconds",
                           str(SHORT_RUN_SECONDS), "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    stats_file = tmp_path / f"{target}.json"
    assert proc.returncode == 0 and stats_file.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    stats = json.loads(stats_file.read_text())
    crashes = {p.name: p.read_text()[:2000] for p in (tmp_path / "crashes").glob("*.txt")}
    assert stats["final"] and stats["inputs"] > stats["seeds"], stats
    assert stats["crashes"] == 0 and stats["hangs"] == 0, (stats, crashes)


# --- Hypothesis: structured values of every container ------------------------------------------

def _strategy(typ: Any, depth: int = 0) -> st.SearchStrategy:
    """Values of an SSZ type descriptor, with lists kept short (the limits are in the thousands)."""
    from beacon.ssz.basic import Boolean, ByteVector, UInt
    from beacon.ssz.container import ContainerMeta
    from beacon.ssz.sequence import Bitlist, Bitvector, List, Vector

    if isinstance(typ, UInt):
        return st.integers(0, typ.limit - 1)
    if isinstance(typ, Boolean):
        return st.booleans()
    if isinstance(typ, ByteVector):
        return st.binary(min_size=typ.length, max_size=typ.length)
    if isinstance(typ, Bitvector):
        return st.lists(st.booleans(), min_size=typ.bound, max_size=typ.bound)
    if isinstance(typ, Bitlist):
        return st.lists(st.booleans(), max_size=min(typ.bound, 40))
    if isinstance(typ, Vector):
        return st.lists(_strategy(typ.elem, depth + 1), min_size=typ.bound, max_size=typ.bound)
    if isinstance(typ, List):
        return st.lists(_strategy(typ.elem, depth + 1), max_size=min(typ.bound, 3 if depth == 0 else 2))
    if isinstance(typ, ContainerMeta):
        return st.builds(lambda kw: typ(**kw), st.fixed_dictionaries(
            {n: _strategy(t, depth + 1) for n, t in typ.fields}))
    raise TypeError(f"no strategy for {typ!r}")


def _types() -> Any:
    from beacon.config import load_config
    from beacon.types import get_types

    return get_types(load_config("minimal"))


@st.composite
def _value_and_mutation(draw: Any) -> tuple[Any, Any, bytes]:
    t = _types()
    typ = t.by_name(draw(st.sampled_from(container_names())))
    value = draw(_strategy(typ))
    data = bytearray(value.serialize())
    kind = draw(st.sampled_from(["none", "flip", "truncate", "extend", "offset"]))
    if kind == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate" and data:
        del data[draw(st.integers(0, len(data) - 1)):]
    elif kind == "extend":
        data += draw(st.binary(min_size=1, max_size=8))
    elif kind == "offset" and len(data) >= 4:
        # Rewrite a 4-byte window as a little-endian number: hits offsets when there are any.
        i = draw(st.integers(0, len(data) - 4))
        data[i:i + 4] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
    return typ, value, bytes(data)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_value_and_mutation())
def test_container_roundtrip_and_mutations(case: tuple[Any, Any, bytes]) -> None:
    """Any value encodes and decodes back to itself with the same root; a mutated encoding is
    either refused with DecodeError or is itself a canonical encoding of some value."""
    from beacon.ssz import DecodeError, decode

    typ, value, data = case
    encoded = value.serialize()
    back = decode(typ, encoded)
    assert back == value and back.hash_tree_root() == value.hash_tree_root()
    if typ.name not in _PYSSZ_SKIP:  # the independent implementation agrees on bytes and root
        sedes = sedes_of(typ)
        theirs = pyssz.decode(encoded, sedes)
        assert pyssz.encode(theirs, sedes) == encoded
        assert pyssz.get_hash_tree_root(theirs, sedes) == value.hash_tree_root()
    try:
        other = decode(typ, data)
    except DecodeError:
        return
    assert other.serialize() == data
    other.hash_tree_root()
