"""Presets and the immutable Config that every layer receives explicitly."""
from beacon.config.config import (
    BYTES_CONSTANTS,
    Config,
    ConfigError,
    PRESETS,
    SPEC_CONSTANTS,
    load_config,
)

__all__ = ["BYTES_CONSTANTS", "Config", "ConfigError", "PRESETS", "SPEC_CONSTANTS", "load_config"]
