"""Shared fixtures: a 16-validator interop genesis (minimal preset) built once per session."""
from __future__ import annotations

import pytest

from beacon.config import load_config


@pytest.fixture(scope="session")
def cfg():
    return load_config("minimal")


@pytest.fixture(scope="session")
def genesis16(cfg, tmp_path_factory):
    import os

    os.environ.setdefault("PYBEACON_CACHE_DIR", str(tmp_path_factory.mktemp("keycache")))
    from genesis.state import create_interop_genesis_state

    return create_interop_genesis_state(cfg, 16, 1567777777)


class Clock:
    """An injected clock the tests move by hand."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def to_slot(self, genesis_time: int, slot: int, seconds_per_slot: int) -> None:
        self.t = genesis_time + slot * seconds_per_slot


@pytest.fixture
def clock(genesis16, cfg):
    return Clock(genesis16.genesis_time + 1000 * cfg.SECONDS_PER_SLOT)
