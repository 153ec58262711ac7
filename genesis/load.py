"""Reading and writing a genesis (or any start) BeaconState as SSZ or YAML.

The interop "start chain from specified state" rule: a node starts from a BeaconState given
as .ssz or .yaml. A file that does not decode for the node's preset is refused with one clear
line; where it decodes for another preset, the message names that preset, since the presets'
vector lengths make the encodings differ in size.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from beacon.config import PRESETS, Config, load_config
from beacon.ssz import DecodeError, decode
from beacon.types import get_types


# libyaml's loader where PyYAML has it (its wheels do): ~100x faster on a large state, and it
# refuses absurd nesting at once (the pure-Python one recurses ~1 s before a RecursionError).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class GenesisLoadError(Exception):
    """The genesis file is missing, unreadable, corrupt, or for another preset."""


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".ssz":
        return "ssz"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise GenesisLoadError(f"{path}: unknown genesis format {suffix!r}; use a .ssz or .yaml file")


def _looks_like(preset: str, data: bytes) -> bool:
    """Does the first offset of `data` point where this preset's fixed part of BeaconState ends?

    That offset (of historical_roots) is at a preset-specific position and equals the
    preset-specific fixed size, so it identifies the preset even in a truncated file.
    """
    cls = get_types(load_config(preset)).BeaconState
    pos = 0
    fixed_total = cls.min_size()  # fixed fields plus one 4-byte offset per variable field
    for typ, fixed in zip(cls._field_types, cls._field_fixed):
        if not fixed:
            break
        pos += typ.fixed_size()
    if len(data) < pos + 4:
        return False
    return int.from_bytes(data[pos:pos + 4], "little") == fixed_total


def state_from_ssz(cfg: Config, data: bytes, source: str = "genesis state") -> Any:
    t = get_types(cfg)
    try:
        return decode(t.BeaconState, data)
    except DecodeError as e:
        # Which preset does it look like? (Only named presets: overrides do not change sizes.)
        others = [p for p in PRESETS if p != cfg.preset and _looks_like(p, data)]
        if others:
            raise GenesisLoadError(
                f"{source} is a BeaconState of the {others[0]} preset, but this node runs the "
                f"{cfg.preset} preset (start with --preset {others[0]}, or use a {cfg.preset} genesis)"
            ) from None
        looks = " (its layout is the {} preset's, but it is damaged)".format(cfg.preset) if _looks_like(cfg.preset, data) else ""
        raise GenesisLoadError(
            f"{source} is not a valid {cfg.preset} BeaconState ({len(data)} bytes){looks}: {e}") from None


def state_from_yaml(cfg: Config, text: str, source: str = "genesis state") -> Any:
    t = get_types(cfg)
    try:
        obj = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        raise GenesisLoadError(f"{source} is not valid YAML: {e}") from None
    except RecursionError:  # PyYAML builds nested collections recursively
        raise GenesisLoadError(f"{source} nests too deeply to be a BeaconState") from None
    try:
        return t.BeaconState.from_obj(obj)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        hint = ""
        for other in PRESETS:
            if other == cfg.preset:
                continue
            try:
                get_types(load_config(other)).BeaconState.from_obj(obj)
                hint = f"; it is a BeaconState of the {other} preset (start with --preset {other})"
                break
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                pass
        raise GenesisLoadError(f"{source} is not a valid {cfg.preset} BeaconState: {e}{hint}") from None


def load_genesis_state(path: str | os.PathLike[str], cfg: Config) -> Any:
    """The BeaconState in `path` (.ssz or .yaml) for `cfg`, or GenesisLoadError with one clear line."""
    p = Path(path)
    fmt = _format_of(p)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise GenesisLoadError(f"cannot read genesis file {p}: {e.strerror}") from None
    if fmt == "ssz":
        return state_from_ssz(cfg, raw, source=str(p))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GenesisLoadError(f"{p} is not a UTF-8 YAML file") from None
    return state_from_yaml(cfg, text, source=str(p))


def state_to_bytes(state: Any, fmt: str) -> bytes:
    if fmt == "ssz":
        return state.serialize()
    obj = type(state).to_obj(state)
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=None, width=200).encode()


def write_state(state: Any, path: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename): a crash never leaves a half genesis file behind."""
    p = Path(path)
    data = state_to_bytes(state, _format_of(p))
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)
