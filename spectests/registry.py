"""Where spec-test handlers register themselves.

The vectors are laid out as <root>/tests/<preset>/phase0/<runner>/<handler>/<suite>/<case>/.
A handler module registers a function per (runner, handler) that takes a Case and raises
AssertionError on a mismatch, or CaseSkipped(reason) for a case it cannot run (reasons are
listed, never silent). The runner (spectests/runner.py) and the pytest collection
(spectests/test_vectors.py) both walk the same registry, so the two never disagree.
"""
from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import yaml

from beacon.config import Config, load_config


class CaseSkipped(Exception):
    """A case that is deliberately not run; the message is the listed reason."""


@dataclasses.dataclass(frozen=True)
class Case:
    preset: str  # "general", "minimal" or "mainnet"
    runner: str
    handler: str
    suite: str
    name: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.preset}/{self.runner}/{self.handler}/{self.suite}/{self.name}"

    @cached_property
    def config(self) -> Config:
        # General cases use no preset constants; minimal is a harmless default for them.
        return load_config("minimal" if self.preset == "general" else self.preset)

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def yaml(self, name: str) -> Any:
        with open(self.path / name) as f:
            return yaml.load(f, Loader=_Loader)

    def bytes(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    @cached_property
    def meta(self) -> dict[str, Any]:
        return self.yaml("meta.yaml") if self.has("meta.yaml") else {}


# libyaml's parser where available: the shuffling mappings are 10k-entry files, and the pure
# Python loader spent most of that handler's time parsing them.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that keeps big ints as ints (default) but never turns 0x.. into ints."""


def _str_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = loader.construct_scalar(node)
    if isinstance(value, str) and value.startswith("0x"):
        return value
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:int", _str_constructor)

HandlerFn = Callable[[Case], None]
HANDLERS: dict[tuple[str, str], HandlerFn] = {}
# Runners whose handlers are discovered from the folders on disk (e.g. ssz_static/<Type>).
RUNNER_FALLBACKS: dict[str, HandlerFn] = {}


def register(runner: str, handler: str | None = None) -> Callable[[HandlerFn], HandlerFn]:
    """Register fn for (runner, handler); handler=None serves every handler of the runner."""

    def deco(fn: HandlerFn) -> HandlerFn:
        if handler is None:
            RUNNER_FALLBACKS[runner] = fn
        else:
            HANDLERS[(runner, handler)] = fn
        return fn

    return deco


def lookup(runner: str, handler: str) -> HandlerFn | None:
    return HANDLERS.get((runner, handler)) or RUNNER_FALLBACKS.get(runner)
