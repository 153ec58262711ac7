"""Shared pieces of the testnet harness tests: stand-in descriptions and running the harness."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("standin_node.py")
NODE_ARGS = ("--genesis {genesis} --datadir {datadir} --port {port} --listen-address {ip} {peer_args} "
             "{validator_args} --preset {preset} --config {config} --http-port {http_port} "
             "--metrics-port {metrics_port}")


def standin_client(name: str, watch: str = "status", extra: str = "") -> dict[str, Any]:
    return {"name": name, "watch": watch,
            "command": f"{sys.executable} {STANDIN} node {NODE_ARGS} {extra}".strip()}


def standin_spec(tmp_path: Path, name: str = "pair", **overrides: Any) -> Path:
    """A two-node description on the stand-in: 1 s slots, 2-slot epochs, B watched via metrics."""
    doc: dict[str, Any] = {
        "name": name,
        "title": "stand-in pair",
        "preset": "minimal",
        "config": {"SECONDS_PER_SLOT": 1, "SLOTS_PER_EPOCH": 2},
        "validators": 16,
        "genesis_delay": 3,
        "genesis": {"command": f"{sys.executable} {STANDIN} genesis --validators {{validators}} "
                               "--genesis-time {genesis_time} --out {out}"},
        "clients": {"A": standin_client("standin-a"), "B": standin_client("standin-b", watch="metrics")},
        "nodes": [{"id": "A-0", "role": "A", "validators": "0:16"}, {"id": "B-0", "role": "B"}],
        "peering": {"A-0": ["B-0"]},
        "goal": {"finalized_epoch": 2, "nodes": ["B-0"]},
        "time_limit": 40,
    }
    doc.update(overrides)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def harness_argv(*args: str) -> list[str]:
    # `python -m beacon.testnet` is `pybeacon testnet` without importing the other subcommands.
    return [sys.executable, "-m", "beacon.testnet", *args]


def run_harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(harness_argv(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (our out dir is in every node's arguments)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def matplotlib_missing() -> str | None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed (it is in setup.py's `plot` extra; `make test` installs only `test`)"
    return None


def is_png(path: Path) -> tuple[int, int]:
    """(width, height) of a real PNG image, read back by matplotlib's decoder."""
    if (reason := matplotlib_missing()) is not None:
        import pytest

        # Everything else in the calling test has been checked by now; only the plot is left.
        pytest.skip(f"plot not checked: {reason}")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    img = matplotlib.image.imread(path)
    return img.shape[1], img.shape[0]
