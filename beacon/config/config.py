"""Load a preset (minimal or mainnet, v0.8.2) plus optional single-value overrides.

The presets are data files beside this module. Values written as hex (0x...) are byte
strings (domains, the withdrawal prefix, the deposit contract address); all others are ints.
The constants the spec fixes outside the presets (FAR_FUTURE_EPOCH, ...) are in SPEC_CONSTANTS
and are part of every Config, so code reads all constants from one place.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import yaml

PRESET_DIR = Path(__file__).parent / "presets"
PRESETS = ("minimal", "mainnet")

# Constants the v0.8.2 spec defines in its own tables rather than in configs/*.yaml.
SPEC_CONSTANTS: dict[str, int] = {
    "FAR_FUTURE_EPOCH": 2**64 - 1,
    "BASE_REWARDS_PER_EPOCH": 5,
    "DEPOSIT_CONTRACT_TREE_DEPTH": 32,
    "SECONDS_PER_DAY": 86400,
    "JUSTIFICATION_BITS_LENGTH": 4,
}

BYTES_CONSTANTS = frozenset({
    "DEPOSIT_CONTRACT_ADDRESS", "BLS_WITHDRAWAL_PREFIX",
    "DOMAIN_BEACON_PROPOSER", "DOMAIN_RANDAO", "DOMAIN_ATTESTATION", "DOMAIN_DEPOSIT",
    "DOMAIN_VOLUNTARY_EXIT", "DOMAIN_TRANSFER", "DOMAIN_CUSTODY_BIT_CHALLENGE",
    "DOMAIN_SHARD_PROPOSER", "DOMAIN_SHARD_ATTESTER",
})


# Overrides may change preset values, but these must stay positive: they are divisors, vector
# lengths or list limits of the containers (0 would fail deep inside the state transition).
POSITIVE = frozenset({
    "SECONDS_PER_SLOT", "SLOTS_PER_EPOCH", "SHARD_COUNT", "TARGET_COMMITTEE_SIZE", "MAX_VALIDATORS_PER_COMMITTEE",
    "CHURN_LIMIT_QUOTIENT", "EFFECTIVE_BALANCE_INCREMENT", "SLOTS_PER_ETH1_VOTING_PERIOD",
    "SLOTS_PER_HISTORICAL_ROOT", "EPOCHS_PER_HISTORICAL_VECTOR", "EPOCHS_PER_SLASHINGS_VECTOR",
    "HISTORICAL_ROOTS_LIMIT", "VALIDATOR_REGISTRY_LIMIT", "WHISTLEBLOWER_REWARD_QUOTIENT",
    "PROPOSER_REWARD_QUOTIENT", "INACTIVITY_PENALTY_QUOTIENT", "MIN_SLASHING_PENALTY_QUOTIENT",
    "MAX_EPOCHS_PER_CROSSLINK", "MIN_ATTESTATION_INCLUSION_DELAY",
})
# The lengths of the state's vectors: every state holds that many elements, so a typo such as
# 2**40 would exhaust memory at genesis. Mainnet's largest is 65,536.
VECTOR_LENGTHS = frozenset({"SHARD_COUNT", "SLOTS_PER_HISTORICAL_ROOT", "EPOCHS_PER_HISTORICAL_VECTOR",
                            "EPOCHS_PER_SLASHINGS_VECTOR"})
MAX_VECTOR_LENGTH = 2**20
UINT64_LIMIT = 2**64


class ConfigError(ValueError):
    """A preset name, override file or override value that cannot be used."""


def _parse_value(name: str, raw: Any, source: str) -> int | bytes:
    text = str(raw).strip()
    if name in BYTES_CONSTANTS:
        if not text.startswith("0x"):
            raise ConfigError(f"{source}: {name} must be hex bytes like 0x00000000, got {text!r}")
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise ConfigError(f"{source}: {name} is not valid hex: {text!r}") from None
    try:
        value = int(text, 0)
    except ValueError:
        raise ConfigError(f"{source}: {name} must be an integer, got {text!r}") from None
    if value < 0:
        raise ConfigError(f"{source}: {name} must not be negative, got {value}")
    if value >= UINT64_LIMIT:
        raise ConfigError(f"{source}: {name} does not fit in a uint64: {value}")
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        # BaseLoader keeps every scalar a string, so 0x00000000 stays a hex string.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader))
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    except RecursionError:  # PyYAML builds nested collections recursively
        raise ConfigError(f"config file {path} nests too deeply: it must be a flat mapping of NAME: value") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of NAME: value")
    return data


@dataclasses.dataclass(frozen=True)
class Config:
    """All constants of one preset (plus overrides), read as attributes: cfg.SLOTS_PER_EPOCH."""

    preset: str
    values: Mapping[str, int | bytes]

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not dataclass fields.
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(f"config has no constant {name}") from None

    def __hash__(self) -> int:
        return hash((self.preset, tuple(sorted(self.values.items()))))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.preset == other.preset and dict(self.values) == dict(other.values)

    def __reduce__(self) -> tuple:
        return (Config, (self.preset, dict(self.values)))

    def overridden(self) -> dict[str, int | bytes]:
        """The values that differ from the named preset (for logs and datadir checks)."""
        base = load_config(self.preset).values
        return {k: v for k, v in self.values.items() if base.get(k) != v}


_cache: dict[str, Config] = {}


def load_config(preset: str = "minimal", overrides: Mapping[str, Any] | str | Path | None = None) -> Config:
    """Build a Config from a preset name and optional overrides (a mapping or a YAML file)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if overrides is None and preset in _cache:
        return _cache[preset]
    path = PRESET_DIR / f"{preset}.yaml"
    values: dict[str, int | bytes] = {k: _parse_value(k, v, str(path)) for k, v in _read_yaml(path).items()}
    values.update(SPEC_CONSTANTS)
    if overrides is not None:
        if isinstance(overrides, (str, Path)):
            source = str(overrides)
            overrides = _read_yaml(Path(overrides))
        else:
            source = "overrides"
        for name, raw in overrides.items():
            if name == "PRESET_BASE" or name == "CONFIG_NAME":
                continue
            if name in SPEC_CONSTANTS:
                raise ConfigError(f"{source}: {name} is fixed by the spec, not a preset value")
            if name not in values:
                raise ConfigError(f"{source}: unknown constant {name!r}")
            value = _parse_value(name, raw, source)
            old = values[name]
            if isinstance(value, bytes) and len(value) != len(old):  # type: ignore[arg-type]
                raise ConfigError(f"{source}: {name} must be {len(old)} bytes, got {len(value)}")  # type: ignore[arg-type]
            if name in POSITIVE and value == 0:
                raise ConfigError(f"{source}: {name} must be at least 1")
            if name in VECTOR_LENGTHS and isinstance(value, int) and value > MAX_VECTOR_LENGTH:
                raise ConfigError(f"{source}: {name} of {value} is beyond {MAX_VECTOR_LENGTH}, "
                                  "the most a state vector may hold")
            values[name] = value
    cfg = Config(preset=preset, values=dict(values))
    if overrides is None:
        _cache[preset] = cfg
    return cfg
