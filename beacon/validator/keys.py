"""Which validators this node runs, and their interop keys (eth2.0-pm interop/mocked_start).

`--validators START:COUNT` or `--validator-indices 0,1,5` name validator indices; the keys are
the interop ones (genesis/keys.py). Before a node signs anything we check that each key's public
key is the one the genesis state has at that index: a mismatch means the genesis was not made
from interop keys (or the indices are off), and signing would only produce invalid messages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence


class ValidatorSelectionError(ValueError):
    """Bad validator selection (syntax, range, or keys that do not match the genesis)."""


@dataclass(frozen=True)
class ValidatorKey:
    index: int
    privkey: int
    pubkey: bytes


def parse_validator_range(text: str) -> list[int]:
    """'START:COUNT' -> [START, ..., START+COUNT-1]."""
    parts = text.split(":")
    if len(parts) != 2:
        raise ValidatorSelectionError(f"--validators wants START:COUNT (e.g. 0:16), got {text!r}")
    try:
        start, count = int(parts[0]), int(parts[1])
    except ValueError:
        raise ValidatorSelectionError(f"--validators wants two integers START:COUNT, got {text!r}") from None
    if start < 0 or count < 0:
        raise ValidatorSelectionError(f"--validators START and COUNT must not be negative, got {text!r}")
    return list(range(start, start + count))


def parse_validator_indices(text: str) -> list[int]:
    """'0,1,5' -> [0, 1, 5] (sorted, no duplicates allowed)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise ValidatorSelectionError(f"--validator-indices wants comma-separated integers, got {text!r}") from None
        if value < 0:
            raise ValidatorSelectionError(f"--validator-indices must not contain negative numbers, got {value}")
        if value in out:
            raise ValidatorSelectionError(f"--validator-indices names validator {value} twice")
        out.append(value)
    return sorted(out)


def select_indices(validators: Optional[str], validator_indices: Optional[str]) -> list[int]:
    if validators and validator_indices:
        raise ValidatorSelectionError("use either --validators START:COUNT or --validator-indices, not both")
    if validators:
        return parse_validator_range(validators)
    if validator_indices:
        return parse_validator_indices(validator_indices)
    return []


def load_interop_keys(indices: Sequence[int], genesis_state: Any) -> list[ValidatorKey]:
    """Interop keys for `indices`, checked against the genesis registry."""
    from beacon.crypto import bls
    from genesis.keys import interop_privkey, interop_pubkeys

    n = len(genesis_state.validators)
    beyond = [i for i in indices if i >= n]
    if beyond:
        raise ValidatorSelectionError(f"validator index {beyond[0]} is out of range: the genesis state has {n} validators "
                        f"(indices 0..{n - 1})")
    if not indices:
        return []
    # The pubkey cache covers 0..max; deriving only the named ones is cheaper when they are few.
    top = max(indices) + 1
    cached = interop_pubkeys(top) if top <= 4 * len(indices) + 64 else None
    keys = []
    for i in indices:
        sk = interop_privkey(i)
        pk = cached[i] if cached is not None else bytes(bls.privtopub(sk))
        if bytes(genesis_state.validators[i].pubkey) != pk:
            raise ValidatorSelectionError(f"validator {i} of the genesis state does not have the interop public key for index {i} "
                            f"(is this an interop quick-start genesis?)")
        keys.append(ValidatorKey(i, sk, pk))
    return keys
