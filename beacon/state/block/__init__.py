"""Block processing (0_beacon-chain.md v0.8.2, "Block processing"): header, RANDAO, eth1 data, operations.

process_block collects the block's signatures (proposer, RANDAO, slashings, attestations,
exits, transfers; never deposits) and checks them in one batch after every other rule of
the block has passed; see beacon/state/signatures.py for how the culprit is then named.
"""
from __future__ import annotations

from typing import Any

from beacon.crypto.hash import hash
from beacon.ssz import uint64
from beacon.state.accessors import get_beacon_proposer_index, get_current_epoch, get_domain, get_randao_mix
from beacon.state.block._checks import require_block
from beacon.state.block.attestation import process_attestation
from beacon.state.block.attester_slashing import process_attester_slashing
from beacon.state.block.deposit import process_deposit
from beacon.state.block.proposer_slashing import process_proposer_slashing
from beacon.state.block.transfer import process_transfer
from beacon.state.block.voluntary_exit import process_voluntary_exit
from beacon.state.errors import InvalidOperation
from beacon.state.math import xor
from beacon.state.signatures import bls_verify, collect_signatures, signature_label

__all__ = [
    "process_block", "process_block_header", "process_randao", "process_eth1_data", "process_operations",
    "process_proposer_slashing", "process_attester_slashing", "process_attestation", "process_deposit",
    "process_voluntary_exit", "process_transfer",
]


# spec v0.8.2: Block processing / process_block
def process_block(state: Any, block: Any) -> None:
    """Mutates ``state``; on an error it is left part-way (state_transition works on a copy)."""
    with collect_signatures() as batch:
        process_block_header(state, block)
        process_randao(state, block.body)
        process_eth1_data(state, block.body)
        process_operations(state, block.body)
    batch.verify()


# spec v0.8.2: Block processing / Block header / process_block_header
def process_block_header(state: Any, block: Any) -> None:
    cfg = state.config
    # Verify that the slots match
    require_block(block.slot == state.slot, f"block slot {block.slot} != state slot {state.slot}")
    # Verify that the parent matches
    require_block(block.parent_root == state.latest_block_header.signing_root(),
                  "parent root does not match the latest block header")
    # Save current block as the new latest block
    state.latest_block_header = state.types.BeaconBlockHeader(
        slot=block.slot,
        parent_root=block.parent_root,
        # state_root: zeroed, overwritten in the next `process_slot` call
        body_root=block.body.hash_tree_root(),
        # signature is always zeroed
    )
    # Verify proposer is not slashed
    proposer = state.validators[get_beacon_proposer_index(state)]
    require_block(not proposer.slashed, "proposer is slashed")
    # Verify proposer signature
    with signature_label("proposer signature", None):
        require_block(bls_verify(proposer.pubkey, block.signing_root(), block.signature,
                                 get_domain(state, cfg.DOMAIN_BEACON_PROPOSER)),
                      "proposer signature: invalid signature")


# spec v0.8.2: Block processing / RANDAO / process_randao
def process_randao(state: Any, body: Any) -> None:
    cfg = state.config
    epoch = get_current_epoch(state)
    # Verify RANDAO reveal
    proposer = state.validators[get_beacon_proposer_index(state)]
    with signature_label("randao reveal", None):
        require_block(bls_verify(proposer.pubkey, uint64.hash_tree_root(epoch), body.randao_reveal,
                                 get_domain(state, cfg.DOMAIN_RANDAO)),
                      "randao reveal: invalid signature")
    # Mix in RANDAO reveal
    mix = xor(get_randao_mix(state, epoch), hash(body.randao_reveal))
    state.randao_mixes[epoch % cfg.EPOCHS_PER_HISTORICAL_VECTOR] = mix


# spec v0.8.2: Block processing / Eth1 data / process_eth1_data
def process_eth1_data(state: Any, body: Any) -> None:
    state.eth1_data_votes.append(body.eth1_data)
    if state.eth1_data_votes.count(body.eth1_data) * 2 > state.config.SLOTS_PER_ETH1_VOTING_PERIOD:
        state.eth1_data = body.eth1_data


# spec v0.8.2: Block processing / Operations / process_operations
def process_operations(state: Any, body: Any) -> None:
    cfg = state.config
    # Verify that outstanding deposits are processed up to the maximum number of deposits
    expected = min(cfg.MAX_DEPOSITS, state.eth1_data.deposit_count - state.eth1_deposit_index)
    require_block(len(body.deposits) == expected,
                  f"block has {len(body.deposits)} deposits, {expected} outstanding ones must be included")
    # Verify that there are no duplicate transfers (equal containers have equal roots)
    require_block(len(body.transfers) == len({t.hash_tree_root() for t in body.transfers}),
                  "duplicate transfers")

    for operations, function, kind in (
        (body.proposer_slashings, process_proposer_slashing, "proposer_slashing"),
        (body.attester_slashings, process_attester_slashing, "attester_slashing"),
        (body.attestations, process_attestation, "attestation"),
        (body.deposits, process_deposit, "deposit"),
        (body.voluntary_exits, process_voluntary_exit, "voluntary_exit"),
        (body.transfers, process_transfer, "transfer"),
    ):
        for index, operation in enumerate(operations):
            with signature_label(kind, index):
                try:
                    function(state, operation)
                except InvalidOperation as e:
                    if e.index is not None:
                        raise
                    raise InvalidOperation(e.kind, index, e.reason) from None
