"""Spec helpers where our form differs from the spec text: checked against the spec's form."""
from __future__ import annotations

import os
import random
from typing import Any

import pytest

from beacon.config import load_config
from beacon.crypto.hash import hash
from beacon.ssz import List
from beacon.state import (
    compute_committee, compute_shuffled_index, get_attesting_indices, get_crosslink_committee,
    integer_squareroot, is_valid_merkle_branch, xor,
)
from beacon.state.predicates import attestation_data_and_custody_bit_root
from beacon.state.shuffle import shuffle_list
from beacon.types import get_types


def test_xor_and_isqrt() -> None:
    rng = random.Random(1)
    for _ in range(50):
        a, b = rng.randbytes(32), rng.randbytes(32)
        assert xor(a, b) == bytes(x ^ y for x, y in zip(a, b))
    for n in [0, 1, 2, 3, 4, 15, 16, 17, 2**64 - 1, 10**30]:
        x = integer_squareroot(n)
        assert x * x <= n < (x + 1) * (x + 1)


@pytest.mark.parametrize("preset", ["minimal", "mainnet"])
def test_whole_list_shuffle_matches_compute_shuffled_index(preset: str) -> None:
    cfg = load_config(preset)
    for n in [1, 2, 3, 7, 64, 257, 600]:
        seed = os.urandom(32)
        indices = random.sample(range(10 * n), n)
        spec = [indices[compute_shuffled_index(i, n, seed, cfg=cfg)] for i in range(n)]
        assert shuffle_list(indices, seed, cfg.SHUFFLE_ROUND_COUNT) == spec
        for count in (1, 3, 8):
            for index in range(count):
                start, end = n * index // count, n * (index + 1) // count
                assert compute_committee(indices, seed, index, count, cfg=cfg) == spec[start:end]


def test_custody_bit_root_matches_container(minimal_genesis: Any) -> None:
    t = minimal_genesis.types
    data = t.AttestationData(beacon_block_root=b"\x05" * 32)
    data.target.epoch = 3
    data.crosslink.shard = 2
    for bit in (False, True):
        assert attestation_data_and_custody_bit_root(data, bit) == \
            t.AttestationDataAndCustodyBit(data=data, custody_bit=bit).hash_tree_root()


def test_merkle_branch_against_ssz_list() -> None:
    cfg = load_config("minimal")
    t = get_types(cfg)
    typ = List(t.DepositData, 2**cfg.DEPOSIT_CONTRACT_TREE_DEPTH)
    leaves = [t.DepositData(amount=i + 1) for i in range(5)]
    root = typ.hash_tree_root(typ.new(leaves))
    # Branch for leaf 3 of 5 in a depth-32 tree, plus the length mix-in as the last sibling.
    from beacon.ssz.merkle import ZERO_HASHES
    layer = [d.hash_tree_root() for d in leaves]
    branch, index = [], 3
    for depth in range(cfg.DEPOSIT_CONTRACT_TREE_DEPTH):
        sibling = index ^ 1
        branch.append(layer[sibling] if sibling < len(layer) else ZERO_HASHES[depth])
        if len(layer) % 2:
            layer.append(ZERO_HASHES[depth])
        layer = [hash(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
        index //= 2
    branch.append(len(leaves).to_bytes(32, "little"))
    leaf = leaves[3].hash_tree_root()
    assert is_valid_merkle_branch(leaf, branch, cfg.DEPOSIT_CONTRACT_TREE_DEPTH + 1, 3, root)
    assert not is_valid_merkle_branch(leaf, branch, cfg.DEPOSIT_CONTRACT_TREE_DEPTH + 1, 2, root)


def test_attesting_indices_short_bits_is_out_of_range(minimal_genesis: Any) -> None:
    t = minimal_genesis.types
    data = t.AttestationData()
    committee = get_crosslink_committee(minimal_genesis, 0, 0)
    bits = [True] * len(committee)
    assert get_attesting_indices(minimal_genesis, data, bits) == set(committee)
    with pytest.raises(IndexError):
        get_attesting_indices(minimal_genesis, data, bits[:-1])
