"""The conformance runner itself, on tiny vector trees built in tmp_path.

What matters most is what the 2019 clients got wrong: a folder with no handler, or requested
vectors that are absent, must fail the run rather than pass over nothing.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from beacon.cli import main as cli_main
from spectests import default_cache_root, fetch, runner, vectors_root
from spectests.registry import Case, CaseSkipped, register

REPO = Path(__file__).resolve().parents[1]
MAIN_PID = os.getpid()


# A handler for a runner no real vector uses; its behaviour is chosen by the case name.
@register("zz_fake", "core")
def _fake_handler(case: Case) -> None:
    kind = case.name.split("_")[0]
    if kind == "bad":
        raise AssertionError(f"boom in {case.name}\nsecond line")
    if kind == "crash":
        raise KeyError("nope")
    if kind == "skip":
        raise CaseSkipped("needs the frobnicator")
    if kind == "mute":
        raise CaseSkipped("")
    if kind == "die":
        if os.getpid() == MAIN_PID:
            raise AssertionError("a dying case must only run in a worker process")
        os._exit(3)  # what a segfault in native code looks like to the pool
    assert case.yaml("data.yaml") == {"x": "0x01", "n": 2**70}


def make_case(root: Path, preset: str, runner_: str, handler: str, suite: str, name: str) -> Path:
    d = root / "tests" / preset / "phase0" / runner_ / handler / suite / name
    d.mkdir(parents=True)
    (d / "data.yaml").write_text(f"x: 0x01\nn: {2**70}\n")
    return d


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("ok_1", "ok_2", "bad_1", "skip_1"):
        make_case(tmp_path, "general", "zz_fake", "core", "s", name)
    make_case(tmp_path, "minimal", "zz_fake", "core", "s", "ok_3")
    return tmp_path


def run_lines(root: Path, *filters: str, jobs: int = 1, presets: list[str] | None = None) -> tuple[int, list[str]]:
    lines: list[str] = []
    status = runner.run(root, presets, list(filters), jobs=jobs, out=lines.append)
    return status, lines


# --- running ---------------------------------------------------------------------------------


def test_pass_fail_skip_counts_and_lines(tree: Path) -> None:
    status, lines = run_lines(tree)
    assert status == 1  # one case failed
    assert "general/zz_fake/core: 2 passed, 1 failed, 1 skipped" in lines
    assert "minimal/zz_fake/core: 1 passed, 0 failed" in lines
    assert "  FAIL general/zz_fake/core/s/bad_1: AssertionError: boom in bad_1" in lines
    assert "  skipped 1: needs the frobnicator" in lines
    assert lines[-1] == "3 passed, 1 failed, 1 skipped"


def test_all_passing_exits_zero(tree: Path) -> None:
    status, lines = run_lines(tree, "zz_fake/core/s/ok_1", "minimal/zz_fake")
    assert status == 0
    assert lines[-1] == "2 passed, 0 failed, 0 skipped"


def test_parallel_matches_serial(tree: Path) -> None:
    for name in range(40):
        make_case(tree, "general", "zz_fake", "core", "many", f"ok_{name}")
    serial = run_lines(tree, jobs=1)
    parallel = run_lines(tree, jobs=3)
    assert serial[0] == parallel[0] == 1
    assert serial[1][:-2] == parallel[1][:-2]  # all but the timing line and the total
    assert serial[1][-1] == parallel[1][-1] == "43 passed, 1 failed, 1 skipped"


def test_a_dying_worker_fails_its_cases_instead_of_hanging(tree: Path) -> None:
    make_case(tree, "general", "zz_fake", "core", "s", "die_1")
    status, lines = run_lines(tree, "general/zz_fake", jobs=2)
    assert status == 1
    assert any(line.startswith("  FAIL general/zz_fake/core/s/die_1: worker process died") for line in lines)


def test_folder_without_handler_is_a_failure(tree: Path) -> None:
    make_case(tree, "minimal", "zz_nobody", "thing", "s", "c1")
    make_case(tree, "minimal", "zz_nobody", "thing", "s", "c2")
    status, lines = run_lines(tree, "zz_nobody")
    assert status == 1
    assert "minimal/zz_nobody/thing: 0 passed, 2 failed" in lines
    assert "  no handler for zz_nobody/thing (every case of it fails)" in lines
    assert lines[-1] == "0 passed, 2 failed, 0 skipped"


def test_requested_handler_missing_on_disk_is_an_error(tree: Path) -> None:
    status, lines = run_lines(tree, "zz_fake/core", "operations/deposit")
    assert status == 1
    assert any(line.startswith("ERROR operations/deposit: no vectors match") for line in lines)
    assert lines[-1] == "3 passed, 2 failed, 1 skipped"  # the error counts as a failure


def test_manifest_catches_missing_and_truncated_folders(tree: Path) -> None:
    # What fetch records from the archive: a folder it lists must be complete on disk.
    manifest = {"general": {"zz_fake/core": 4}, "minimal": {"zz_fake/core": 2, "zz_fake/gone": 3}}
    (tree / "manifest.json").write_text(json.dumps({"version": "0.8.3", "presets": manifest}))
    status, lines = run_lines(tree)
    errors = [line for line in lines if line.startswith("ERROR")]
    assert status == 1
    assert errors == [
        "ERROR minimal/zz_fake/core: incomplete (1 of 2 cases on disk); "
        "run `pybeacon spectest fetch --preset minimal --handlers zz_fake/core`",
        "ERROR minimal/zz_fake/gone: not extracted (0 of 3 cases on disk); "
        "run `pybeacon spectest fetch --preset minimal --handlers zz_fake/gone`",
    ]
    # A filter narrows what is required: general alone is complete.
    assert run_lines(tree, "general/zz_fake")[1][-1] == "2 passed, 1 failed, 1 skipped"
    # Asking for the absent folder by name reports it once, with the fetch command.
    status, lines = run_lines(tree, "zz_fake/gone")
    assert [line for line in lines if line.startswith("ERROR")] == [errors[1]]
    assert status == 1 and lines[-1] == "0 passed, 1 failed, 0 skipped"


def test_requested_preset_missing_is_an_error(tree: Path) -> None:
    status, lines = run_lines(tree, presets=["mainnet"])
    assert status == 1
    assert any(line.startswith("ERROR mainnet: preset mainnet is not on disk") for line in lines)


def test_no_vectors_at_all_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(runner.VectorsMissing, match="pybeacon spectest fetch"):
        runner.plan(tmp_path / "absent")
    assert cli_main(["spectest", "--vectors", str(tmp_path / "absent")]) == 2
    assert "run `pybeacon spectest fetch`" in capsys.readouterr().err


def test_skip_without_reason_and_unexpected_errors_fail(tree: Path) -> None:
    make_case(tree, "general", "zz_fake", "core", "t", "mute_1")
    make_case(tree, "general", "zz_fake", "core", "t", "crash_1")
    results = {r.id.rsplit("/", 1)[1]: r for r in runner.run_cases(runner.plan(tree, ["general"], ["zz_fake/core/t"]).cases)}
    assert results["mute_1"].status == "failed"
    assert results["mute_1"].message == "CaseSkipped raised without a reason"
    assert results["crash_1"].status == "failed"
    assert results["crash_1"].message == "KeyError: 'nope'"
    assert "Traceback" in results["crash_1"].detail


def test_bad_handler_filter_is_a_usage_error(tree: Path) -> None:
    with pytest.raises(runner.BadRequest):
        runner.plan(tree, None, ["a/b/c/d/e"])
    assert cli_main(["spectest", "--vectors", str(tree), "a/b/c/d/e"]) == 2


def test_cli_runs_and_reports(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["spectest", "--vectors", str(tree), "-j", "1", "minimal/zz_fake"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "minimal/zz_fake/core: 1 passed, 0 failed"
    assert out[-1] == "1 passed, 0 failed, 0 skipped"


def test_every_handler_module_imports() -> None:
    assert runner.load_handlers() == []


def test_help_works() -> None:
    proc = subprocess.run([sys.executable, "-m", "beacon.cli", "spectest", "--help"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: pybeacon spectest" in proc.stdout
    assert "HANDLER" in proc.stdout and "fetch" in proc.stdout


# --- where the vectors live --------------------------------------------------------------------


def test_vectors_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYBEACON_VECTORS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert vectors_root() == tmp_path / "xdg" / "pybeacon" / "vectors" / "v0.8.3"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # XDG says relative paths are invalid
    assert default_cache_root() == Path.home() / ".cache" / "pybeacon" / "vectors" / "v0.8.3"
    monkeypatch.setenv("PYBEACON_VECTORS", str(tmp_path / "env"))
    assert vectors_root() == tmp_path / "env"
    assert vectors_root(tmp_path / "flag") == tmp_path / "flag"
    # A hand-unpacked npm tarball (DIR/package/tests) is found too.
    (tmp_path / "npm" / "package" / "tests").mkdir(parents=True)
    assert vectors_root(tmp_path / "npm") == tmp_path / "npm" / "package"


# --- fetch: parts, markers, streaming extraction ------------------------------------------------


def make_tgz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


ARCHIVE = {
    "package/package.json": b"{}",
    "package/tests/general/phase0/bls/sign_msg/small/c1/data.yaml": b"a: 1\n",
    "package/tests/minimal/config.yaml": b"SHARD_COUNT: 8\n",
    "package/tests/minimal/phase0/ssz_static/Fork/ssz_zero/case_0/serialized.ssz": b"\x00",
    "package/tests/mainnet/config.yaml": b"SHARD_COUNT: 1024\n",
    "package/tests/mainnet/phase0/ssz_static/Fork/ssz_zero/case_0/serialized.ssz": b"\x01",
    "package/tests/mainnet/phase0/ssz_static/Fork/ssz_zero/case_1/serialized.ssz": b"\x02",
    "package/tests/mainnet/phase0/operations/deposit/pyspec_tests/d1/pre.ssz": b"\x03",
}


def test_requested_parts() -> None:
    P = fetch.Part
    assert fetch.requested_parts(None, None) == [P("general"), P("minimal")]
    assert fetch.requested_parts(["mainnet"], ["ssz_static", "ssz_static/Fork"]) == [
        P("general"), P("mainnet", "ssz_static")]  # Fork is inside ssz_static: extracted once
    with pytest.raises(fetch.FetchError):
        fetch.requested_parts(["testnet"], None)
    with pytest.raises(fetch.FetchError):
        fetch.requested_parts(["mainnet"], ["a/b/c"])


def test_extract_only_what_is_asked_and_record_manifest(tmp_path: Path) -> None:
    tgz = make_tgz(tmp_path / "v.tgz", ARCHIVE)
    root = tmp_path / "cache"
    fetch.fetch(root, ["mainnet"], ["ssz_static/Fork"], log=lambda s: None, tgz=tgz)
    files = sorted(str(p.relative_to(root)) for p in (root / "tests").rglob("*") if p.is_file())
    assert files == [
        "tests/general/phase0/bls/sign_msg/small/c1/data.yaml",
        "tests/mainnet/config.yaml",
        "tests/mainnet/phase0/ssz_static/Fork/ssz_zero/case_0/serialized.ssz",
        "tests/mainnet/phase0/ssz_static/Fork/ssz_zero/case_1/serialized.ssz",
    ]
    assert fetch.load_manifest(root) == {
        "general": {"bls/sign_msg": 1},
        "mainnet": {"operations/deposit": 1, "ssz_static/Fork": 2},
        "minimal": {"ssz_static/Fork": 1},
    }
    assert sorted(p.name for p in (root / ".extracted").iterdir()) == ["general.done", "mainnet__ssz_static__Fork.done"]
    # The runner now knows mainnet/operations/deposit exists but was not extracted.
    plan = runner.plan(root, ["mainnet"])
    assert [p.id for p in plan.problems] == ["mainnet/operations/deposit"]


def test_marked_parts_are_not_redone_and_unmarked_ones_are(tmp_path: Path) -> None:
    tgz = make_tgz(tmp_path / "v.tgz", ARCHIVE)
    root = tmp_path / "cache"
    fetch.fetch(root, ["minimal"], None, log=lambda s: None, tgz=tgz)
    # Marked parts never touch the tarball again (this path does not exist).
    fetch.fetch(root, ["minimal"], None, log=lambda s: None, tgz=tmp_path / "no-such.tgz")
    # An interrupted extraction: files written, marker not. It must be wiped and redone.
    (root / ".extracted" / "minimal.done").unlink()
    junk = root / "tests" / "minimal" / "phase0" / "ssz_static" / "Fork" / "half" / "written"
    junk.mkdir(parents=True)
    with pytest.raises(FileNotFoundError):
        fetch.fetch(root, ["minimal"], None, log=lambda s: None, tgz=tmp_path / "no-such.tgz")
    assert not (root / "tests" / "minimal").exists()  # wiped before the failed attempt
    fetch.fetch(root, ["minimal"], None, log=lambda s: None, tgz=tgz)
    assert not junk.exists()
    assert (root / "tests/minimal/phase0/ssz_static/Fork/ssz_zero/case_0/serialized.ssz").read_bytes() == b"\x00"
    assert (root / ".extracted" / "minimal.done").exists()


def test_asking_for_a_handler_the_archive_lacks_is_an_error(tmp_path: Path) -> None:
    tgz = make_tgz(tmp_path / "v.tgz", ARCHIVE)
    root = tmp_path / "cache"
    with pytest.raises(fetch.FetchError, match="not in the v0.8.3 vectors: operations/transfer"):
        fetch.fetch(root, ["mainnet"], ["operations/transfer"], log=lambda s: None, tgz=tgz)
    # Known from the manifest now, so the second refusal needs no pass over the archive.
    with pytest.raises(fetch.FetchError, match="operations/transfer"):
        fetch.fetch(root, ["mainnet"], ["operations/transfer"], log=lambda s: None, tgz=tmp_path / "none.tgz")


def test_archive_members_escaping_the_root_are_ignored(tmp_path: Path) -> None:
    tgz = make_tgz(tmp_path / "v.tgz", {**ARCHIVE, "package/tests/general/phase0/../../../../evil": b"x"})
    fetch.fetch(tmp_path / "cache", None, None, log=lambda s: None, tgz=tgz)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "cache" / "evil").exists()


def test_corrupt_tarball_without_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    (root / fetch.TARBALL).write_bytes(b"not the real tarball")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no npm anywhere
    logged: list[str] = []
    with pytest.raises(fetch.FetchError, match="npm is not on PATH"):
        fetch.ensure_tarball(root, log=logged.append)
    assert "does not match the published integrity" in logged[0]
    assert not (root / fetch.TARBALL).exists()  # the corrupt copy is not kept


# --- the pytest collection -------------------------------------------------------------------------


def _collect(env_root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYBEACON_VECTORS": str(env_root)}
    env.pop("PYBEACON_SPECTEST_MAINNET", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           str(REPO / "spectests" / "test_vectors.py"), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_collection_without_vectors_fails_loudly(tmp_path: Path) -> None:
    proc = _collect(tmp_path / "absent")
    assert proc.returncode == 1, proc.stdout
    assert "test_requested_vectors[vectors]" in proc.stdout
    assert "run `pybeacon spectest fetch`" in proc.stdout
    assert "1 failed" in proc.stdout


def test_collection_names_one_test_per_case(tmp_path: Path) -> None:
    for name in ("uint_8_one", "uint_16_two"):
        make_case(tmp_path, "general", "zz_unhandled", "uints", "valid", name)
    proc = _collect(tmp_path, "--collect-only")
    ids = sorted(line for line in proc.stdout.splitlines() if "::" in line)
    assert ids == [
        "spectests/test_vectors.py::test_case[general/zz_unhandled/uints/valid/uint_16_two]",
        "spectests/test_vectors.py::test_case[general/zz_unhandled/uints/valid/uint_8_one]",
        "spectests/test_vectors.py::test_requested_vectors[minimal]",  # minimal is absent here
    ]


# --- the ssz_generic handler is not vacuous: it fails wrong expectations ---------------------------


def _ssz_case(root: Path, suite: str, name: str, serialized: bytes, value: str | None = None,
              meta: str | None = None) -> Case:
    d = root / "tests" / "general" / "phase0" / "ssz_generic" / "uints" / suite / name
    d.mkdir(parents=True)
    (d / "serialized.ssz").write_bytes(serialized)
    if value is not None:
        (d / "value.yaml").write_text(value)
    if meta is not None:
        (d / "meta.yaml").write_text(meta)
    return Case("general", "ssz_generic", "uints", suite, name, d)


def test_ssz_generic_handler_catches_wrong_expectations(tmp_path: Path) -> None:
    assert runner.load_handlers() == []
    root_0102 = "{root: '0x0102" + "00" * 30 + "'}\n"
    cases = {
        "good": _ssz_case(tmp_path, "valid", "uint_16_good", b"\x01\x02", "513\n", root_0102),
        "bad_root": _ssz_case(tmp_path, "valid", "uint_16_badroot", b"\x01\x02", "513\n", "{root: '0x" + "00" * 32 + "'}\n"),
        "bad_bytes": _ssz_case(tmp_path, "valid", "uint_16_badbytes", b"\x02\x01", "513\n", root_0102),
        "bad_name": _ssz_case(tmp_path, "valid", "uint_7_odd", b"\x01", "1\n", root_0102),
        "short": _ssz_case(tmp_path, "invalid", "uint_16_short", b"\x01"),
        "decodable": _ssz_case(tmp_path, "invalid", "uint_16_decodable", b"\x01\x02"),
    }
    results = {k: runner.run_case(c) for k, c in cases.items()}
    assert results["good"].status == "passed"
    assert results["short"].status == "passed"
    assert results["bad_root"].message.startswith("AssertionError: hash_tree_root of value")
    assert results["bad_bytes"].message.startswith("AssertionError: encode: got 0x0102, want 0x0201")
    assert results["bad_name"].message == "AssertionError: cannot derive an SSZ type from uints/uint_7_odd"
    assert results["decodable"].message == "AssertionError: decode accepted invalid input 0x0102 as 513"
