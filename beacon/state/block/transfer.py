"""Block processing: transfers (0_beacon-chain.md v0.8.2, "Operations / Transfers")."""
from __future__ import annotations

from typing import Any

from beacon.crypto.hash import hash
from beacon.state.accessors import get_beacon_proposer_index, get_current_epoch, get_domain
from beacon.state.block._checks import require
from beacon.state.mutators import decrease_balance, increase_balance
from beacon.state.signatures import bls_verify

KIND = "transfer"


# spec v0.8.2: Operations / Transfers / process_transfer
def process_transfer(state: Any, transfer: Any) -> None:
    cfg = state.config
    n = len(state.validators)
    require(transfer.sender < n and transfer.recipient < n, KIND, "unknown sender or recipient index")
    sender_balance = state.balances[transfer.sender]
    # Verify the balance the covers amount and fee (with overflow protection)
    require(sender_balance >= max(transfer.amount + transfer.fee, transfer.amount, transfer.fee), KIND,
            "balance does not cover amount and fee")
    # A transfer is valid in only one slot
    require(state.slot == transfer.slot, KIND, "transfer is not for this slot")
    sender = state.validators[transfer.sender]
    # Sender must satisfy at least one of the following:
    require(
        # 1) Never have been eligible for activation
        sender.activation_eligibility_epoch == cfg.FAR_FUTURE_EPOCH or
        # 2) Be withdrawable
        get_current_epoch(state) >= sender.withdrawable_epoch or
        # 3) Have a balance of at least MAX_EFFECTIVE_BALANCE after the transfer
        sender_balance >= transfer.amount + transfer.fee + cfg.MAX_EFFECTIVE_BALANCE,
        KIND, "sender is neither unactivated, withdrawable, nor left with MAX_EFFECTIVE_BALANCE")
    # Verify that the pubkey is valid
    require(sender.withdrawal_credentials == cfg.BLS_WITHDRAWAL_PREFIX + hash(transfer.pubkey)[1:], KIND,
            "pubkey does not match the sender's withdrawal credentials")
    # Verify that the signature is valid
    require(bls_verify(transfer.pubkey, transfer.signing_root(), transfer.signature,
                       get_domain(state, cfg.DOMAIN_TRANSFER)), KIND, "invalid signature")
    # Process the transfer
    decrease_balance(state, transfer.sender, transfer.amount + transfer.fee)
    increase_balance(state, transfer.recipient, transfer.amount)
    increase_balance(state, get_beacon_proposer_index(state), transfer.fee)
    # Verify balances are not dust
    require(not (0 < state.balances[transfer.sender] < cfg.MIN_DEPOSIT_AMOUNT), KIND, "sender left with dust")
    require(not (0 < state.balances[transfer.recipient] < cfg.MIN_DEPOSIT_AMOUNT), KIND, "recipient left with dust")
