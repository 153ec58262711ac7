"""The official v0.8.3 conformance vectors: where they live, fetching, running.

This module stays import-light (no YAML, no beacon layers) because worker processes and
the pytest collection import it before anything else.
"""
from __future__ import annotations

import os
from pathlib import Path

VECTORS_VERSION = "0.8.3"
ENV_VECTORS = "PYBEACON_VECTORS"


def default_cache_root() -> Path:
    """~/.cache/pybeacon/vectors/v0.8.3, honouring XDG_CACHE_HOME (when it is absolute, per XDG)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "pybeacon" / "vectors" / f"v{VECTORS_VERSION}"


def vectors_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding tests/<preset>/phase0/... : --vectors DIR, else $PYBEACON_VECTORS, else the cache.

    A folder that only holds the unpacked npm layout (DIR/package/tests) is accepted too,
    so pointing at a hand-unpacked tarball just works.
    """
    if override is not None:
        root = Path(override)
    elif os.environ.get(ENV_VECTORS):
        root = Path(os.environ[ENV_VECTORS])
    else:
        root = default_cache_root()
    root = root.expanduser()
    if not (root / "tests").is_dir() and (root / "package" / "tests").is_dir():
        root = root / "package"
    return root


__all__ = ["ENV_VECTORS", "VECTORS_VERSION", "default_cache_root", "vectors_root"]
