from __future__ import annotations

from pathlib import Path

import pytest

from beacon.config import ConfigError, load_config


def test_presets_differ_where_the_spec_says() -> None:
    minimal, mainnet = load_config("minimal"), load_config("mainnet")
    assert (minimal.SLOTS_PER_EPOCH, mainnet.SLOTS_PER_EPOCH) == (8, 64)
    assert (minimal.SHARD_COUNT, mainnet.SHARD_COUNT) == (8, 1024)
    assert minimal.DOMAIN_ATTESTATION == mainnet.DOMAIN_ATTESTATION == b"\x02\x00\x00\x00"
    assert minimal.FAR_FUTURE_EPOCH == 2**64 - 1
    assert minimal.BLS_WITHDRAWAL_PREFIX == b"\x00"


def test_yaml_override(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text("SECONDS_PER_SLOT: 1\n")
    cfg = load_config("minimal", path)
    assert cfg.SECONDS_PER_SLOT == 1
    assert cfg.overridden() == {"SECONDS_PER_SLOT": 1}
    assert load_config("minimal").SECONDS_PER_SLOT == 6  # the preset itself is untouched


@pytest.mark.parametrize("text, message", [
    ("NOT_A_CONSTANT: 1\n", "unknown constant"),
    ("SECONDS_PER_SLOT: fast\n", "must be an integer"),
    ("SECONDS_PER_SLOT: 0\n", "at least 1"),
    ("DOMAIN_RANDAO: 7\n", "must be hex"),
    ("- a\n- b\n", "mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_overrides_are_clear(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config("minimal", path)


def test_unknown_preset_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("testnet")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("minimal", tmp_path / "absent.yaml")
