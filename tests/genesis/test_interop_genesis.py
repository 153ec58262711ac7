"""Interop keys, deposits and the quick-start genesis against the interop reference files."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from beacon.config import load_config
from beacon.ssz import List
from beacon.types import get_types
from genesis.deposits import DepositTree, deposit_domain, interop_deposits, withdrawal_credentials
from genesis.keys import interop_keypairs, interop_privkey, interop_pubkeys
from genesis.load import GenesisLoadError, load_genesis_state, write_state

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "interop"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"interop reference data not present at {SHARED} (fresh clone outside the workspace)")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    # Each test gets its own key cache dir: no test depends on (or pollutes) the user's cache.
    monkeypatch.setenv("PYBEACON_CACHE_DIR", str(tmp_path / "cache"))


def _is_valid_merkle_branch(leaf: bytes, branch, depth: int, index: int, root: bytes) -> bool:
    # Written out independently of genesis/deposits.py, as in the spec's predicate.
    value = leaf
    for i in range(depth):
        if index // (2**i) % 2:
            value = hashlib.sha256(branch[i] + value).digest()
        else:
            value = hashlib.sha256(value + branch[i]).digest()
    return value == root


@needs_shared
def test_first_ten_keys_match_reference():
    ref = yaml.safe_load((SHARED / "keygen_10_validators.yaml").read_text())
    pairs = interop_keypairs(10)
    assert [sk for sk, _ in pairs] == [int(r["privkey"], 16) for r in ref]
    assert ["0x" + pk.hex() for _, pk in pairs] == [r["pubkey"] for r in ref]


def test_pubkey_cache_extends_and_rejects_corruption(tmp_path):
    first = interop_pubkeys(5)
    cache_file = tmp_path / "cache" / "interop_pubkeys_v1.bin"
    assert cache_file.stat().st_size == 5 * 48
    more = interop_pubkeys(8)  # extends the cached prefix
    assert more[:5] == first and cache_file.stat().st_size == 8 * 48
    # Corrupt the cache: the sample check must notice and re-derive, not return junk.
    cache_file.write_bytes(b"\x01" * (8 * 48))
    assert interop_pubkeys(8) == more
    assert interop_pubkeys(8, use_cache=False) == more


def test_privkey_rule():
    k = int.from_bytes(hashlib.sha256((3).to_bytes(32, "little")).digest(), "little")
    assert interop_privkey(3) == k % 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001


def test_deposit_tree_matches_ssz_list_and_proofs_verify():
    cfg = load_config("minimal")
    t = get_types(cfg)
    tree = DepositTree(cfg.DEPOSIT_CONTRACT_TREE_DEPTH)
    datas = []
    for i in range(19):
        d = t.DepositData(pubkey=bytes([i]) * 48, amount=i)
        datas.append(d)
        proof = tree.push(d.hash_tree_root())
        root = List(t.DepositData, 2**cfg.DEPOSIT_CONTRACT_TREE_DEPTH).new(datas).hash_tree_root()
        assert tree.root() == root
        assert _is_valid_merkle_branch(d.hash_tree_root(), proof, cfg.DEPOSIT_CONTRACT_TREE_DEPTH + 1, i, root)


def test_interop_deposits_are_signed_and_shaped():
    from beacon.crypto import bls

    cfg = load_config("minimal")
    deposits = interop_deposits(cfg, interop_keypairs(4))
    for d in deposits:
        assert d.data.amount == cfg.MAX_EFFECTIVE_BALANCE
        assert d.data.withdrawal_credentials == withdrawal_credentials(cfg, d.data.pubkey)
        assert d.data.withdrawal_credentials[:1] == cfg.BLS_WITHDRAWAL_PREFIX
        assert bls.verify(d.data.pubkey, d.data.signing_root(), d.data.signature, deposit_domain(cfg))


@needs_shared
@pytest.mark.parametrize("count", [16, 32])
def test_cli_genesis_is_byte_identical_to_reference(tmp_path, count):
    out = tmp_path / f"g{count}.ssz"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "beacon.cli", "genesis", "--validators", str(count),
                           "--genesis-time", "1567777777", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    ref = (SHARED / f"quickstart_genesis_{count}_1567777777.ssz").read_bytes()
    got = out.read_bytes()
    assert len(got) == len(ref)
    assert got == ref


def test_yaml_round_trip(tmp_path):
    from genesis.state import create_interop_genesis_state

    cfg = load_config("minimal")
    state = create_interop_genesis_state(cfg, 4, 1234)
    write_state(state, tmp_path / "g.yaml")
    write_state(state, tmp_path / "g.ssz")
    a = load_genesis_state(tmp_path / "g.yaml", cfg)
    b = load_genesis_state(tmp_path / "g.ssz", cfg)
    assert a.serialize() == b.serialize() == state.serialize()
    assert a.genesis_time == 1234 and len(a.validators) == 4


@needs_shared
def test_load_rejects_wrong_preset_and_corruption(tmp_path):
    src = SHARED / "quickstart_genesis_16_1567777777.ssz"
    state = load_genesis_state(src, load_config("minimal"))
    assert len(state.validators) == 16 and state.genesis_time == 1567777777
    with pytest.raises(GenesisLoadError, match="minimal preset.*runs the mainnet preset"):
        load_genesis_state(src, load_config("mainnet"))
    cut = tmp_path / "cut.ssz"
    cut.write_bytes(src.read_bytes()[:-7])
    with pytest.raises(GenesisLoadError, match="not a valid minimal BeaconState"):
        load_genesis_state(cut, load_config("minimal"))
    junk = tmp_path / "junk.yaml"
    junk.write_text("genesis_time: [1, 2\n")
    with pytest.raises(GenesisLoadError, match="not valid YAML"):
        load_genesis_state(junk, load_config("minimal"))
    with pytest.raises(GenesisLoadError, match="unknown genesis format"):
        load_genesis_state(tmp_path / "x.json", load_config("minimal"))
    with pytest.raises(GenesisLoadError, match="cannot read"):
        load_genesis_state(tmp_path / "missing.ssz", load_config("minimal"))
