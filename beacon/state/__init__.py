"""The phase-0 state transition (0_beacon-chain.md v0.8.2), one spec section per module.

Helpers (math, predicates, misc, accessors, mutators) are re-exported here under their spec
names; per-epoch processing lives in beacon.state.epoch. Submodules import each other
directly (never through this package), so importing a helper module stays cheap and free
of cycles.
"""
from beacon.state.accessors import (
    get_active_validator_indices, get_attestation_data_slot, get_attesting_indices,
    get_beacon_proposer_index, get_beacon_proposer_index_at_slot, get_block_root, get_block_root_at_slot, get_committee_count,
    get_compact_committees_root, get_crosslink_committee, get_current_epoch, get_domain,
    get_indexed_attestation, get_previous_epoch, get_randao_mix, get_seed, get_shard_delta,
    get_start_shard, get_total_active_balance, get_total_balance, get_validator_churn_limit,
)
from beacon.state.cache import clear_caches
from beacon.state.errors import InvalidBlock, InvalidOperation, InvalidSlot, StateTransitionError
from beacon.state.math import bytes_to_int, int_to_bytes, integer_squareroot, xor
from beacon.state.misc import (
    GENESIS_EPOCH, compute_activation_exit_epoch, compute_committee, compute_domain, compute_epoch_of_slot,
    compute_shuffled_index, compute_start_slot_of_epoch,
)
from beacon.state.mutators import decrease_balance, increase_balance, initiate_validator_exit, slash_validator
from beacon.state.predicates import (
    is_active_validator, is_slashable_attestation_data, is_slashable_validator, is_valid_indexed_attestation,
    is_valid_merkle_branch,
)
from beacon.state.block import (
    process_attestation, process_attester_slashing, process_block, process_block_header, process_deposit,
    process_eth1_data, process_operations, process_proposer_slashing, process_randao, process_transfer,
    process_voluntary_exit,
)
from beacon.state.genesis import initialize_beacon_state_from_eth1, is_valid_genesis_state
from beacon.state.slots import apply_block, process_slot, process_slots, state_transition
