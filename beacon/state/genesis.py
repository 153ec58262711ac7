"""Genesis (0_beacon-chain.md v0.8.2, "Genesis")."""
from __future__ import annotations

from typing import Any, Sequence

from beacon.config import Config
from beacon.ssz import List, uint64
from beacon.state.accessors import get_active_validator_indices, get_compact_committees_root
from beacon.state.block.deposit import process_deposit
from beacon.state.misc import GENESIS_EPOCH
from beacon.types import get_types


# spec v0.8.2: Genesis / initialize_beacon_state_from_eth1
def initialize_beacon_state_from_eth1(eth1_block_hash: bytes, eth1_timestamp: int, deposits: Sequence[Any],
                                      *, cfg: Config | None = None) -> Any:
    """The candidate genesis state. ``cfg`` defaults to the deposits' preset."""
    if cfg is None:
        if not deposits:
            raise ValueError("initialize_beacon_state_from_eth1 needs cfg= when there are no deposits")
        cfg = type(deposits[0]).config
    t = get_types(cfg)
    state = t.BeaconState(
        genesis_time=eth1_timestamp - eth1_timestamp % cfg.SECONDS_PER_DAY + 2 * cfg.SECONDS_PER_DAY,
        eth1_data=t.Eth1Data(block_hash=eth1_block_hash, deposit_count=len(deposits)),
        latest_block_header=t.BeaconBlockHeader(body_root=t.BeaconBlockBody().hash_tree_root()),
    )

    # Process deposits
    # One list grown deposit by deposit: its cached tree makes each prefix root a few hashes
    # (the spec rebuilds List[DepositData, 2**DEPOSIT_CONTRACT_TREE_DEPTH](*leaves[:index + 1])).
    deposit_data_list = List(t.DepositData, 2**cfg.DEPOSIT_CONTRACT_TREE_DEPTH).default()
    for index, deposit in enumerate(deposits):
        deposit_data_list.append(deposit.data)
        state.eth1_data.deposit_root = deposit_data_list.hash_tree_root()
        process_deposit(state, deposit)

    # Process activations
    for index, validator in enumerate(state.validators):
        balance = state.balances[index]
        validator.effective_balance = min(balance - balance % cfg.EFFECTIVE_BALANCE_INCREMENT, cfg.MAX_EFFECTIVE_BALANCE)
        if validator.effective_balance == cfg.MAX_EFFECTIVE_BALANCE:
            validator.activation_eligibility_epoch = GENESIS_EPOCH
            validator.activation_epoch = GENESIS_EPOCH

    # Populate active_index_roots and compact_committees_roots
    indices_type = List(uint64, cfg.VALIDATOR_REGISTRY_LIMIT)
    active_index_root = indices_type.hash_tree_root(indices_type.new(get_active_validator_indices(state, GENESIS_EPOCH)))
    committee_root = get_compact_committees_root(state, GENESIS_EPOCH)
    n = cfg.EPOCHS_PER_HISTORICAL_VECTOR
    state.active_index_roots.set_all([active_index_root] * n)
    state.compact_committees_roots.set_all([committee_root] * n)
    return state


# spec v0.8.2: Genesis / Genesis state / is_valid_genesis_state
def is_valid_genesis_state(state: Any) -> bool:
    cfg = state.config
    if state.genesis_time < cfg.MIN_GENESIS_TIME:
        return False
    if len(get_active_validator_indices(state, GENESIS_EPOCH)) < cfg.MIN_GENESIS_ACTIVE_VALIDATOR_COUNT:
        return False
    return True
