"""The interop quick-start genesis state (eth2.0-pm interop/mocked_start, "Quick-start genesis").

initialize_beacon_state_from_eth1(eth1_block_hash=0x42 * 32, eth1_timestamp=2**40, deposits),
then state.genesis_time = the requested time; is_valid_genesis_state is deliberately not applied.
"""
from __future__ import annotations

from typing import Any

from beacon.config import Config
from genesis.deposits import interop_deposits
from genesis.keys import interop_keypairs

INTEROP_ETH1_BLOCK_HASH = b"\x42" * 32
INTEROP_ETH1_TIMESTAMP = 2**40


def create_interop_genesis_state(cfg: Config, validator_count: int, genesis_time: int,
                                 use_key_cache: bool = True) -> Any:
    """The quick-start BeaconState of `validator_count` interop validators."""
    if validator_count < 1:
        raise ValueError(f"need at least one validator, got {validator_count}")
    from beacon.state.genesis import initialize_beacon_state_from_eth1  # the spec function

    deposits = interop_deposits(cfg, interop_keypairs(validator_count, use_cache=use_key_cache))
    # The spec signature has no config: the Deposit containers carry theirs (cfg).
    state = initialize_beacon_state_from_eth1(INTEROP_ETH1_BLOCK_HASH, INTEROP_ETH1_TIMESTAMP, deposits)
    state.genesis_time = genesis_time
    return state
