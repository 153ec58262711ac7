"""The version matrix: a fast part of the suite on each supported CPython besides the default.

`make test` runs the whole suite on the project's .venv (3.11); `make matrix` (part of `make test`)
runs `nox`, which gives each other version a session `fast-3.X` in its own venv under .nox/:
the unit tests below, the minimal spec vectors, and one two-node run (two real node processes
over TCP, B following A to finality). Interpreters are found without fixed paths: a working
`python3.X` on PATH, else the newest `$(pyenv root)/versions/3.X.*`; a missing one fails its
session with that message (never a skip).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
from typing import Callable, Optional

import nox

# download_python (below) came in 2025.10; the Makefile installs a nox that has it.
nox.needs_version = ">=2025.10.16"

# The versions tested here; 3.11 is the default interpreter's and runs the whole suite.
VERSIONS = ("3.12", "3.13")

# The shortest real two-process node run (~45 s: B follows A to finality at 1 s slots). It runs on
# its own after the unit tests: its 1 s slots want the cores (beside them, A missed proposals).
TWO_NODES = "tests/node/test_two_nodes.py::test_b_follows_a_to_finality"
# Unit and in-process network tests, ~1 min on 2 cores: all but the multi-node and testnet tests
# (tests/p2p's late joiner is a second two-node run, deselected).
UNIT_TESTS = [
    "tests/test_ssz.py", "tests/test_bls.py", "tests/test_config.py", "tests/state", "tests/chain",
    "tests/db", "tests/genesis", "tests/validator", "tests/api", "tests/p2p",
    "--deselect", "tests/p2p/test_nodes.py::test_late_node_syncs_from_genesis_follows_gossip_and_probe_passes",
]

nox.options.sessions = [f"fast-{v}" for v in VERSIONS]
# Never download an interpreter (this project's machines reach only package registries), and a
# missing one is an error, not a skip, on a developer's machine as on CI.
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
# uv (installed with nox by the Makefile) creates the venvs and installs into them: ~45 s for a
# session's first install where pip took ~65 s, and ~9 s instead of ~60 s once its cache is warm.
# Without uv, nox falls back to virtualenv and pip.
nox.options.default_venv_backend = "uv|virtualenv"
# Keep each session's venv in .nox/ between runs; its install step then only adds what changed.
nox.options.reuse_venv = "yes"


def _minor_version(python: str) -> Optional[str]:
    """The "3.X" that the interpreter reports, or None if it does not run (e.g. a pyenv shim of a
    version that pyenv has installed but not activated: it exits with an error)."""
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _pyenv_root() -> Optional[str]:
    if os.environ.get("PYENV_ROOT"):
        return os.environ["PYENV_ROOT"]
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return None


def _patch(path: str, version: str) -> int:
    """Y of <root>/versions/3.X.Y/bin/python3.X; -1 for anything else (3.X-dev, 3.X.Yt, ...)."""
    name = path.split(os.sep)[-3]
    tail = name[len(version) + 1:]
    return int(tail) if tail.isdigit() else -1


def find_python(version: str) -> tuple[Optional[str], list[str]]:
    """The interpreter for "3.X", and the places looked at (for the error when there is none)."""
    looked = [f"python{version} on PATH"]
    on_path = shutil.which(f"python{version}")
    if on_path and _minor_version(on_path) == version:
        return on_path, looked
    root = _pyenv_root()
    if root is None:
        looked.append("pyenv (not installed, PYENV_ROOT unset)")
        return None, looked
    pattern = os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")
    looked.append(pattern)
    # Only final releases 3.X.Y, newest patch first; each must actually run.
    found = sorted((p for p in glob.glob(pattern) if _patch(p, version) >= 0),
                   key=lambda p: _patch(p, version), reverse=True)
    for path in found:
        if _minor_version(path) == version:
            return path, looked
    return None, looked


def fast(session: nox.Session) -> None:
    # Only what the fast part needs: pybeacon (editable, as `make venv` installs it) and the runner.
    # Bytecode is compiled now, as pip does (uv would not): node processes that a test starts a
    # few seconds before genesis must not spend them compiling libp2p under load.
    session.install("-e", ".[test-runner]", env={"UV_COMPILE_BYTECODE": "1"})
    session.run("python", "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", *UNIT_TESTS)
    # The vectors are shared with `make test` (~/.cache/pybeacon); fetch is a no-op once there.
    session.run("pybeacon", "spectest", "fetch", "--preset", "minimal")
    session.run("pybeacon", "spectest", "--preset", "minimal")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", TWO_NODES)


def _missing(version: str, looked: list[str]) -> Callable[[nox.Session], None]:
    def session_missing(session: nox.Session) -> None:
        session.error(f"Python {version} not found (looked at: {'; '.join(looked)}); "
                      f"install it, e.g. `pyenv install {version}`")
    return session_missing


for _version in VERSIONS:
    _python, _looked = find_python(_version)
    if _python is None:
        nox.session(_missing(_version, _looked), name=f"fast-{_version}", python=False)
    else:
        nox.session(fast, name=f"fast-{_version}", python=_python)
