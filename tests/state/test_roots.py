"""beacon.state.roots: the roots merkleized from plain data equal the SSZ values' roots."""
from __future__ import annotations

import hashlib
import random

import pytest

from beacon.config import load_config
from beacon.ssz import List, uint64
from beacon.state import roots
from beacon.state.accessors import get_active_validator_indices, get_compact_committees_root, get_current_epoch
from beacon.state.epoch import naive
from beacon.state.epoch.synthetic import build_epoch_state
from beacon.state.shuffle import indices_digest


@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 64, 1000])
def test_uint64_list_root(count: int) -> None:
    rng = random.Random(count)
    values = [rng.randrange(2**64) for _ in range(count)]
    for limit in (max(count, 1), 4096, 2**40):
        assert roots.uint64_list_root(values, limit) == List(uint64, limit).new(values).hash_tree_root()


@pytest.mark.parametrize("chunks", [0, 1, 2, 3, 7, 8, 9, 33])
def test_merkleize_buffer(chunks: int) -> None:
    from beacon.ssz.merkle import merkleize

    rng = random.Random(chunks)
    leaves = [rng.randbytes(32) for _ in range(chunks)]
    for depth in range(max(chunks - 1, 0).bit_length(), 12):
        assert roots.merkleize_buffer(b"".join(leaves), depth) == merkleize(leaves, 1 << depth)
    with pytest.raises(ValueError):
        roots.merkleize_buffer(b"\x01" * 32 * 3, 1)


@pytest.mark.parametrize("preset,seed", [("minimal", 1), ("minimal", 2), ("mainnet", 3)])
def test_compact_committees_and_active_index_roots_match_ssz(preset: str, seed: int) -> None:
    # Synthetic states hold slashed, exited and low-balance validators: every compact field varies.
    state = build_epoch_state(load_config(preset), 300 if preset == "minimal" else 4200, full=False, seed=seed)
    epoch = get_current_epoch(state)
    for e in (epoch, epoch + 1):
        assert get_compact_committees_root(state, e) == naive.get_compact_committees_root(state, e)
        indices = get_active_validator_indices(state, e)
        want = naive._validator_index_list(state.config).new(indices).hash_tree_root()
        assert roots.active_index_root(state.config, indices, b"") == want
        digest = indices_digest(indices)
        assert roots.active_index_root(state.config, indices, digest) == want
        assert roots.active_index_root(state.config, indices, digest) == want  # memoized


def test_pubkey_roots_follow_the_registry_asked_about() -> None:
    # The pubkey-root cache serves the last registry while it is a prefix: a registry that
    # differs anywhere (or is shorter) must get its own roots.
    state = build_epoch_state(load_config("minimal"), 200, full=False, seed=5)
    epoch = get_current_epoch(state)
    assert get_compact_committees_root(state, epoch) == naive.get_compact_committees_root(state, epoch)
    other = state.copy()
    other._cache = None
    member = get_active_validator_indices(state, epoch)[0]  # active, so in some committee
    other.validators[member].pubkey = b"\x99" * 48
    assert get_compact_committees_root(other, epoch) == naive.get_compact_committees_root(other, epoch)
    assert get_compact_committees_root(other, epoch) != get_compact_committees_root(state, epoch)
    longer = state.copy()
    longer._cache = None
    longer.validators.append(longer.validators[5].copy())
    longer.balances.append(0)
    assert get_compact_committees_root(longer, epoch) == naive.get_compact_committees_root(longer, epoch)


def test_compact_committees_root_with_a_small_increment() -> None:
    # Below 256 Gwei per increment the compact balance may need more than 48 bits: the root then
    # packs Python ints (the other branch of compact_committees_root); it must still match.
    cfg = load_config("minimal", {"EFFECTIVE_BALANCE_INCREMENT": 100})
    state = build_epoch_state(cfg, 200, full=False, seed=4)
    epoch = get_current_epoch(state)
    for e in (epoch, epoch + 1):
        assert get_compact_committees_root(state, e) == naive.get_compact_committees_root(state, e)


@pytest.mark.parametrize("pairs", [0, 1, 2, 7, 1000])
def test_hash_layer_forms_agree_with_hashlib(pairs: int) -> None:
    data = random.Random(pairs).randbytes(64 * pairs)
    want = b"".join(hashlib.sha256(data[i:i + 64]).digest() for i in range(0, len(data), 64))
    assert roots.python_hash_layer(data) == want
    assert roots.hash_layer(data) == want  # the form merkleize_buffer uses
    if not roots.NATIVE_HASHING:
        pytest.skip("beacon.state._hashlayer is not built here (no compiler or OpenSSL headers at install, "
                    "or PYTHONPATH at a tree without `setup.py build_ext --inplace`): hashlib form only")
    assert roots._native_hash_layer(data) == want
    assert roots._native_hash_layer(memoryview(data)) == want  # any buffer


def test_hash_layer_rejects_partial_pairs() -> None:
    forms = [roots.python_hash_layer] + ([roots._native_hash_layer] if roots.NATIVE_HASHING else [])
    for form in forms:
        for size in (1, 32, 65, 127):
            with pytest.raises(ValueError, match="64-byte pairs"):
                form(b"\x00" * size)


def test_shuffle_is_the_same_with_and_without_the_c_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    from beacon.state import shuffle

    seed = hashlib.sha256(b"shuffle").digest()
    indices = list(range(0, 3000, 3))
    with_native = shuffle.shuffle_list(indices, seed, 90)
    monkeypatch.setattr(shuffle, "_hash_counted", None)
    assert shuffle.shuffle_list(indices, seed, 90) == with_native
    if not roots.NATIVE_HASHING:
        pytest.skip("beacon.state._hashlayer is not built here: the hashlib form only")
    from beacon.state import _hashlayer

    prefix = seed + b"\x05"
    for count in (0, 1, 4, 300):
        want = b"".join(hashlib.sha256(prefix + k.to_bytes(4, "little")).digest() for k in range(count))
        assert _hashlayer.hash_counted(prefix, count) == want
    with pytest.raises(ValueError):
        _hashlayer.hash_counted(prefix, -1)
