"""Interop-like states for the state-transition tests (keys from genesis.keys, BLS on)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import pytest

from beacon.config import load_config
from genesis.keys import interop_privkeys
from genesis.state import create_interop_genesis_state


@lru_cache(maxsize=None)
def _genesis(preset: str, count: int) -> Any:
    cfg = load_config(preset)
    return create_interop_genesis_state(cfg, count, genesis_time=cfg.MIN_GENESIS_TIME)


def genesis_state(preset: str, count: int) -> Any:
    """A fresh copy (with no cache) of the interop genesis of ``count`` validators."""
    state = _genesis(preset, count).copy()
    state._cache = None
    return state


@pytest.fixture
def minimal_genesis() -> Any:
    return genesis_state("minimal", 64)


@pytest.fixture(scope="session")
def privkeys() -> list[int]:
    return interop_privkeys(256)
