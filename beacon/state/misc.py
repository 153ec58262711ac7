"""Misc helpers of the spec (0_beacon-chain.md v0.8.2, "Helper functions / Misc").

Functions that need a constant but take no state get the Config as a trailing keyword
(`cfg`), since the spec reads module globals we do not have.
"""
from __future__ import annotations

from typing import Sequence

from beacon.config import Config
from beacon.crypto.hash import hash
from beacon.state.math import bytes_to_int, int_to_bytes
from beacon.state.shuffle import get_shuffled

# spec v0.8.2: Configuration / Initial values. Not in the preset files (nor in Config's
# SPEC_CONSTANTS), so it is defined here, next to the epoch arithmetic that needs it.
GENESIS_EPOCH = 0


# spec v0.8.2: Misc / compute_shuffled_index
def compute_shuffled_index(index: int, index_count: int, seed: bytes, *, cfg: Config) -> int:
    """Return the shuffled validator index corresponding to ``seed`` (and ``index_count``).

    The reference one-index form; committees use the whole-list shuffle (shuffle.py).
    """
    assert index < index_count

    # Swap or not (https://link.springer.com/content/pdf/10.1007%2F978-3-642-32009-5_1.pdf)
    # See the 'generalized domain' algorithm on page 3
    for current_round in range(cfg.SHUFFLE_ROUND_COUNT):
        pivot = bytes_to_int(hash(seed + int_to_bytes(current_round, length=1))[0:8]) % index_count
        flip = (pivot + index_count - index) % index_count
        position = max(index, flip)
        source = hash(seed + int_to_bytes(current_round, length=1) + int_to_bytes(position // 256, length=4))
        byte = source[(position % 256) // 8]
        bit = (byte >> (position % 8)) % 2
        index = flip if bit else index

    return index


# spec v0.8.2: Misc / compute_committee
def compute_committee(indices: Sequence[int], seed: bytes, index: int, count: int, *, cfg: Config,
                      digest: bytes | None = None) -> list[int]:
    """Return the committee corresponding to ``indices``, ``seed``, ``index``, and committee ``count``.

    Same result as the spec's per-member compute_shuffled_index, read off the whole shuffled
    list (memoized by content; `digest` is the caller's precomputed key of `indices`).
    """
    start = (len(indices) * index) // count
    end = (len(indices) * (index + 1)) // count
    shuffled = get_shuffled(indices, seed, cfg.SHUFFLE_ROUND_COUNT, digest)
    return shuffled[start:end]


# spec v0.8.2: Misc / compute_epoch_of_slot
def compute_epoch_of_slot(slot: int, *, cfg: Config) -> int:
    """Return the epoch number of ``slot``."""
    return slot // cfg.SLOTS_PER_EPOCH


# spec v0.8.2: Misc / compute_start_slot_of_epoch
def compute_start_slot_of_epoch(epoch: int, *, cfg: Config) -> int:
    """Return the start slot of ``epoch``."""
    return epoch * cfg.SLOTS_PER_EPOCH


# spec v0.8.2: Misc / compute_activation_exit_epoch
def compute_activation_exit_epoch(epoch: int, *, cfg: Config) -> int:
    """Return the epoch during which validator activations and exits initiated in ``epoch`` take effect."""
    return epoch + 1 + cfg.ACTIVATION_EXIT_DELAY


# spec v0.8.2: Misc / compute_domain
def compute_domain(domain_type: bytes, fork_version: bytes = b"\x00" * 4) -> bytes:
    """Return the domain for the ``domain_type`` and ``fork_version``."""
    return domain_type + fork_version
