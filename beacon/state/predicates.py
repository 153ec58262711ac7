"""Predicates of the spec (0_beacon-chain.md v0.8.2, "Helper functions / Predicates")."""
from __future__ import annotations

from typing import Any, Sequence

from beacon.crypto.bls import CommitteeSubset
from beacon.crypto.hash import hash
from beacon.state.cache import committee_keys
from beacon.state.signatures import bls_verify_multiple_groups


# spec v0.8.2: Predicates / is_active_validator
def is_active_validator(validator: Any, epoch: int) -> bool:
    """Check if ``validator`` is active."""
    return validator.activation_epoch <= epoch < validator.exit_epoch


# spec v0.8.2: Predicates / is_slashable_validator
def is_slashable_validator(validator: Any, epoch: int) -> bool:
    """Check if ``validator`` is slashable."""
    return (not validator.slashed) and (validator.activation_epoch <= epoch < validator.withdrawable_epoch)


# spec v0.8.2: Predicates / is_slashable_attestation_data
def is_slashable_attestation_data(data_1: Any, data_2: Any) -> bool:
    """Check if ``data_1`` and ``data_2`` are slashable according to Casper FFG rules."""
    return (
        # Double vote
        (data_1 != data_2 and data_1.target.epoch == data_2.target.epoch) or
        # Surround vote
        (data_1.source.epoch < data_2.source.epoch and data_2.target.epoch < data_1.target.epoch)
    )


# spec v0.8.2: Predicates / is_valid_indexed_attestation
def is_valid_indexed_attestation(state: Any, indexed_attestation: Any,
                                 committee: Sequence[int] | None = None) -> bool:
    """Check if ``indexed_attestation`` has valid indices and signature.

    Inside a block the signature check is recorded for the block's batch (see signatures.py).
    `committee` (not in the spec): the crosslink committee the custody-bit-0 indices were
    taken from (process_attestation knows it); their pubkeys are then summed as the
    committee's cached sum minus the absent members (bls.CommitteeSubset), the same point.
    """
    from beacon.state.accessors import get_domain  # accessors import this module

    cfg = state.config
    bit_0_indices = list(indexed_attestation.custody_bit_0_indices)
    bit_1_indices = list(indexed_attestation.custody_bit_1_indices)

    # Verify no index has custody bit equal to 1 [to be removed in phase 1]
    if not len(bit_1_indices) == 0:
        return False
    # Verify max number of indices
    if not len(bit_0_indices) + len(bit_1_indices) <= cfg.MAX_VALIDATORS_PER_COMMITTEE:
        return False
    # Verify index sets are disjoint
    if not len(set(bit_0_indices).intersection(bit_1_indices)) == 0:
        return False
    # Verify indices are sorted
    if not (bit_0_indices == sorted(bit_0_indices) and bit_1_indices == sorted(bit_1_indices)):
        return False
    # The spec reads state.validators[i]: an unknown index is an out-of-range access (invalid).
    validators = state.validators.items()  # the plain list: no per-item Sequence overhead
    n = len(validators)
    if any(i >= n for i in bit_0_indices) or any(i >= n for i in bit_1_indices):
        return False
    # Verify aggregate signature. The groups are aggregated by the BLS layer (in the batch).
    data = indexed_attestation.data
    bit_0_group: Any = None
    keys = committee_keys(state, tuple(committee)) if committee is not None else None
    if keys is not None:
        present = set(bit_0_indices)
        if len(present) == len(bit_0_indices) and present.issubset(keys.members) and keys.max_index < n:
            absent = () if len(present) == len(keys.members) else tuple(
                pk for i, pk in zip(committee, keys.pubkeys) if i not in present)  # type: ignore[arg-type]
            bit_0_group = CommitteeSubset(keys.pubkeys, absent)
    if bit_0_group is None:
        bit_0_group = [validators[i].pubkey for i in bit_0_indices]
    return bls_verify_multiple_groups(
        pubkey_groups=[
            bit_0_group,
            [validators[i].pubkey for i in bit_1_indices],
        ],
        message_hashes=[
            attestation_data_and_custody_bit_root(data, False),
            attestation_data_and_custody_bit_root(data, True),
        ],
        signature=indexed_attestation.signature,
        domain=get_domain(state, cfg.DOMAIN_ATTESTATION, data.target.epoch),
    )


def attestation_data_and_custody_bit_root(data: Any, custody_bit: bool) -> bytes:
    """hash_tree_root(AttestationDataAndCustodyBit(data=data, custody_bit=custody_bit)).

    Without building the container (which would copy `data`): a two-field container's root
    is hash(root of field 0 + root of field 1), and a boolean's root is its byte, zero-padded.
    tests/state/test_helpers.py checks it against the container form.
    """
    return hash(data.hash_tree_root() + (b"\x01" if custody_bit else b"\x00") + b"\x00" * 31)


# spec v0.8.2: Predicates / is_valid_merkle_branch
def is_valid_merkle_branch(leaf: bytes, branch: Sequence[bytes], depth: int, index: int, root: bytes) -> bool:
    """Check if ``leaf`` at ``index`` verifies against the Merkle ``root`` and ``branch``."""
    value = leaf
    for i in range(depth):
        if index // (2**i) % 2:
            value = hash(branch[i] + value)
        else:
            value = hash(value + branch[i])
    return value == root
