"""Interop deposits: signed DepositData and Merkle proofs from the incremental deposit tree.

Why the proof of deposit i is taken from the tree holding only deposits 0..i: the spec's
initialize_beacon_state_from_eth1 sets eth1_data.deposit_root to the root of
List[DepositData, 2**DEPOSIT_CONTRACT_TREE_DEPTH](leaves[:i + 1]) before process_deposit checks
deposit i, with depth DEPOSIT_CONTRACT_TREE_DEPTH + 1 (the last branch node is the list length
mixed in). For the newest leaf of an append-only tree every sibling is either a complete
subtree to its left (the deposit contract's `branch` array) or an empty subtree (a zero
hash), so each proof costs DEPOSIT_CONTRACT_TREE_DEPTH hashes.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from beacon.config import Config
from beacon.crypto.hash import hash as sha256
from beacon.types import get_types


def _zero_hashes(depth: int) -> list[bytes]:
    zeros = [b"\x00" * 32]
    for _ in range(depth):
        zeros.append(sha256(zeros[-1] + zeros[-1]))
    return zeros


class DepositTree:
    """The deposit contract's incremental Merkle tree (append-only), with proofs for the newest leaf."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.zero = _zero_hashes(depth)
        self.branch: list[bytes] = list(self.zero[:depth])  # left-subtree roots, one per level
        self.count = 0

    def push(self, leaf: bytes) -> list[bytes]:
        """Append `leaf`; return its proof against the tree of the leaves so far (length mix-in last)."""
        index = self.count
        # Siblings: for level k, a complete left subtree when bit k of the index is 1, else empty.
        proof = [self.branch[k] if (index >> k) & 1 else self.zero[k] for k in range(self.depth)]
        proof.append((index + 1).to_bytes(32, "little"))
        # The deposit contract's insertion: carry the new node up while it completes a pair.
        self.count += 1
        size = self.count
        node = leaf
        for k in range(self.depth):
            if size & 1:
                self.branch[k] = node
                break
            node = sha256(self.branch[k] + node)
            size >>= 1
        return proof

    def root(self) -> bytes:
        """hash_tree_root of the List of leaves: the tree root with the length mixed in."""
        node = self.zero[0]
        size = self.count
        for k in range(self.depth):
            if size & 1:
                node = sha256(self.branch[k] + node)
            else:
                node = sha256(node + self.zero[k])
            size >>= 1
        return sha256(node + self.count.to_bytes(32, "little"))


def deposit_domain(cfg: Config) -> bytes:
    # spec v0.8.2: compute_domain(DOMAIN_DEPOSIT) with the default fork version Version()
    # ("deposits are valid across forks").
    return bytes(cfg.DOMAIN_DEPOSIT) + b"\x00" * 4


def withdrawal_credentials(cfg: Config, pubkey: bytes) -> bytes:
    """BLS_WITHDRAWAL_PREFIX + hash(pubkey)[1:] (interop mocked_start rule)."""
    return bytes(cfg.BLS_WITHDRAWAL_PREFIX) + sha256(pubkey)[1:]


def make_deposit_data(cfg: Config, privkey: int, pubkey: bytes, amount: int | None = None) -> Any:
    """A DepositData signed (proof of possession) with DOMAIN_DEPOSIT."""
    from beacon.crypto import bls

    t = get_types(cfg)
    data = t.DepositData(
        pubkey=pubkey,
        withdrawal_credentials=withdrawal_credentials(cfg, pubkey),
        amount=cfg.MAX_EFFECTIVE_BALANCE if amount is None else amount,
    )
    data.signature = bls.sign(data.signing_root(), privkey, deposit_domain(cfg))
    return data


def make_deposits(cfg: Config, datas: Iterable[Any]) -> list[Any]:
    """Deposits with proofs, in order, each provable against the tree of the deposits up to it."""
    t = get_types(cfg)
    tree = DepositTree(cfg.DEPOSIT_CONTRACT_TREE_DEPTH)
    return [t.Deposit(proof=tree.push(d.hash_tree_root()), data=d) for d in datas]


def interop_deposits(cfg: Config, keypairs: Sequence[tuple[int, bytes]]) -> list[Any]:
    """One MAX_EFFECTIVE_BALANCE deposit per interop key pair, in validator index order."""
    return make_deposits(cfg, (make_deposit_data(cfg, sk, pk) for sk, pk in keypairs))
