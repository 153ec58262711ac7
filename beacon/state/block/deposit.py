"""Block processing: deposits (0_beacon-chain.md v0.8.2, "Operations / Deposits")."""
from __future__ import annotations

from typing import Any

from beacon.state import cache as _cache
from beacon.state.block._checks import require
from beacon.state.misc import compute_domain
from beacon.state.mutators import increase_balance
from beacon.state.predicates import is_valid_merkle_branch
from beacon.state.signatures import bls_verify_now

KIND = "deposit"


# spec v0.8.2: Operations / Deposits / process_deposit
def process_deposit(state: Any, deposit: Any) -> None:
    cfg = state.config
    # Verify the Merkle branch
    require(is_valid_merkle_branch(
        leaf=deposit.data.hash_tree_root(),
        branch=deposit.proof,
        depth=cfg.DEPOSIT_CONTRACT_TREE_DEPTH + 1,  # Add 1 for the `List` length mix-in
        index=state.eth1_deposit_index,
        root=state.eth1_data.deposit_root,
    ), KIND, "invalid Merkle branch")

    # Deposits must be processed in order
    state.eth1_deposit_index += 1

    pubkey = deposit.data.pubkey
    amount = deposit.data.amount
    index = _validator_index_of(state, pubkey)
    if index is None:
        # Verify the deposit signature (proof of possession) for new validators.
        # Note: The deposit contract does not check signatures.
        # Note: Deposits are valid across forks, thus the deposit domain is retrieved directly from `compute_domain`.
        domain = compute_domain(cfg.DOMAIN_DEPOSIT)
        # Never batched: a bad proof of possession skips this deposit, it does not fail the block.
        if not bls_verify_now(pubkey, deposit.data.signing_root(), deposit.data.signature, domain):
            return

        # Add validator and balance entries
        state.validators.append(state.types.Validator(
            pubkey=pubkey,
            withdrawal_credentials=deposit.data.withdrawal_credentials,
            activation_eligibility_epoch=cfg.FAR_FUTURE_EPOCH,
            activation_epoch=cfg.FAR_FUTURE_EPOCH,
            exit_epoch=cfg.FAR_FUTURE_EPOCH,
            withdrawable_epoch=cfg.FAR_FUTURE_EPOCH,
            effective_balance=min(amount - amount % cfg.EFFECTIVE_BALANCE_INCREMENT, cfg.MAX_EFFECTIVE_BALANCE),
        ))
        state.balances.append(amount)
    else:
        # Increase balance by deposit amount
        increase_balance(state, index, amount)


def _validator_index_of(state: Any, pubkey: bytes) -> int | None:
    """`validator_pubkeys.index(pubkey)` if present, else None (via the state's pubkey map)."""
    index_map = _cache.pubkey_index(state)
    if index_map is None:  # SPEC_MODE: the spec's scan
        validator_pubkeys = [v.pubkey for v in state.validators]
        return validator_pubkeys.index(pubkey) if pubkey in validator_pubkeys else None
    return index_map.lookup(state.validators, pubkey)
