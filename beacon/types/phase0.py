"""The phase-0 containers of specs/core/0_beacon-chain.md (v0.8.2), built for one Config.

List limits and vector lengths come from the preset, so each Config gets its own classes;
`get_types(cfg)` memoizes them. Field names and order are the spec's.
"""
# No `from __future__ import annotations` here: the field annotations must be live SSZ types.

import dataclasses
from functools import lru_cache
from typing import Any

from beacon.config import Config
from beacon.ssz import (
    Bitlist, Bitvector, Bytes4, Bytes32, Bytes48, Bytes96, Container, List, Vector, boolean, uint64,
)

# Spec aliases (custom types table).
Slot = Epoch = Shard = ValidatorIndex = Gwei = uint64
Hash = Bytes32
Version = Bytes4
DomainType = Bytes4
BLSPubkey = Bytes48
BLSSignature = Bytes96


@dataclasses.dataclass(frozen=True)
class Types:
    """The containers of one preset: t.BeaconState, t.Attestation, ..."""

    config: Config
    Fork: Any
    Checkpoint: Any
    Validator: Any
    Crosslink: Any
    AttestationData: Any
    AttestationDataAndCustodyBit: Any
    IndexedAttestation: Any
    PendingAttestation: Any
    Eth1Data: Any
    HistoricalBatch: Any
    DepositData: Any
    CompactCommittee: Any
    BeaconBlockHeader: Any
    ProposerSlashing: Any
    AttesterSlashing: Any
    Attestation: Any
    Deposit: Any
    VoluntaryExit: Any
    Transfer: Any
    BeaconBlockBody: Any
    BeaconBlock: Any
    BeaconState: Any

    def by_name(self, name: str) -> Any:
        if name in ("config",) or name not in self.__dataclass_fields__:
            raise KeyError(f"no SSZ type named {name!r}")
        return getattr(self, name)

    @property
    def names(self) -> list[str]:
        return [f for f in self.__dataclass_fields__ if f != "config"]


def get_types(cfg: Config) -> Types:
    return _build(cfg.preset, tuple(sorted((k, v) for k, v in cfg.values.items())), cfg)


@lru_cache(maxsize=None)
def _build(preset: str, _key: tuple, cfg: Config) -> Types:  # noqa: C901 - one class per spec container
    c = cfg

    class Fork(Container):
        previous_version: Version
        current_version: Version
        epoch: Epoch

    class Checkpoint(Container):
        epoch: Epoch
        root: Hash

    class Validator(Container):
        pubkey: BLSPubkey
        withdrawal_credentials: Hash
        effective_balance: Gwei
        slashed: boolean
        activation_eligibility_epoch: Epoch
        activation_epoch: Epoch
        exit_epoch: Epoch
        withdrawable_epoch: Epoch

    class Crosslink(Container):
        shard: Shard
        parent_root: Hash
        start_epoch: Epoch
        end_epoch: Epoch
        data_root: Hash

    class AttestationData(Container):
        beacon_block_root: Hash
        source: Checkpoint
        target: Checkpoint
        crosslink: Crosslink

    class AttestationDataAndCustodyBit(Container):
        data: AttestationData
        custody_bit: boolean

    class IndexedAttestation(Container):
        custody_bit_0_indices: List(ValidatorIndex, c.MAX_VALIDATORS_PER_COMMITTEE)
        custody_bit_1_indices: List(ValidatorIndex, c.MAX_VALIDATORS_PER_COMMITTEE)
        data: AttestationData
        signature: BLSSignature

    class PendingAttestation(Container):
        aggregation_bits: Bitlist(c.MAX_VALIDATORS_PER_COMMITTEE)
        data: AttestationData
        inclusion_delay: Slot
        proposer_index: ValidatorIndex

    class Eth1Data(Container):
        deposit_root: Hash
        deposit_count: uint64
        block_hash: Hash

    class HistoricalBatch(Container):
        block_roots: Vector(Hash, c.SLOTS_PER_HISTORICAL_ROOT)
        state_roots: Vector(Hash, c.SLOTS_PER_HISTORICAL_ROOT)

    class DepositData(Container):
        pubkey: BLSPubkey
        withdrawal_credentials: Hash
        amount: Gwei
        signature: BLSSignature

    class CompactCommittee(Container):
        pubkeys: List(BLSPubkey, c.MAX_VALIDATORS_PER_COMMITTEE)
        compact_validators: List(uint64, c.MAX_VALIDATORS_PER_COMMITTEE)

    class BeaconBlockHeader(Container):
        slot: Slot
        parent_root: Hash
        state_root: Hash
        body_root: Hash
        signature: BLSSignature

    class ProposerSlashing(Container):
        proposer_index: ValidatorIndex
        header_1: BeaconBlockHeader
        header_2: BeaconBlockHeader

    class AttesterSlashing(Container):
        attestation_1: IndexedAttestation
        attestation_2: IndexedAttestation

    class Attestation(Container):
        aggregation_bits: Bitlist(c.MAX_VALIDATORS_PER_COMMITTEE)
        data: AttestationData
        custody_bits: Bitlist(c.MAX_VALIDATORS_PER_COMMITTEE)
        signature: BLSSignature

    class Deposit(Container):
        proof: Vector(Hash, c.DEPOSIT_CONTRACT_TREE_DEPTH + 1)
        data: DepositData

    class VoluntaryExit(Container):
        epoch: Epoch
        validator_index: ValidatorIndex
        signature: BLSSignature

    class Transfer(Container):
        sender: ValidatorIndex
        recipient: ValidatorIndex
        amount: Gwei
        fee: Gwei
        slot: Slot
        pubkey: BLSPubkey
        signature: BLSSignature

    class BeaconBlockBody(Container):
        randao_reveal: BLSSignature
        eth1_data: Eth1Data
        graffiti: Bytes32
        proposer_slashings: List(ProposerSlashing, c.MAX_PROPOSER_SLASHINGS)
        attester_slashings: List(AttesterSlashing, c.MAX_ATTESTER_SLASHINGS)
        attestations: List(Attestation, c.MAX_ATTESTATIONS)
        deposits: List(Deposit, c.MAX_DEPOSITS)
        voluntary_exits: List(VoluntaryExit, c.MAX_VOLUNTARY_EXITS)
        transfers: List(Transfer, c.MAX_TRANSFERS)

    class BeaconBlock(Container):
        slot: Slot
        parent_root: Hash
        state_root: Hash
        body: BeaconBlockBody
        signature: BLSSignature

    class BeaconState(Container):
        genesis_time: uint64
        slot: Slot
        fork: Fork
        latest_block_header: BeaconBlockHeader
        block_roots: Vector(Hash, c.SLOTS_PER_HISTORICAL_ROOT)
        state_roots: Vector(Hash, c.SLOTS_PER_HISTORICAL_ROOT)
        historical_roots: List(Hash, c.HISTORICAL_ROOTS_LIMIT)
        eth1_data: Eth1Data
        eth1_data_votes: List(Eth1Data, c.SLOTS_PER_ETH1_VOTING_PERIOD)
        eth1_deposit_index: uint64
        validators: List(Validator, c.VALIDATOR_REGISTRY_LIMIT)
        balances: List(Gwei, c.VALIDATOR_REGISTRY_LIMIT)
        start_shard: Shard
        randao_mixes: Vector(Hash, c.EPOCHS_PER_HISTORICAL_VECTOR)
        active_index_roots: Vector(Hash, c.EPOCHS_PER_HISTORICAL_VECTOR)
        compact_committees_roots: Vector(Hash, c.EPOCHS_PER_HISTORICAL_VECTOR)
        slashings: Vector(Gwei, c.EPOCHS_PER_SLASHINGS_VECTOR)
        previous_epoch_attestations: List(PendingAttestation, c.MAX_ATTESTATIONS * c.SLOTS_PER_EPOCH)
        current_epoch_attestations: List(PendingAttestation, c.MAX_ATTESTATIONS * c.SLOTS_PER_EPOCH)
        previous_crosslinks: Vector(Crosslink, c.SHARD_COUNT)
        current_crosslinks: Vector(Crosslink, c.SHARD_COUNT)
        justification_bits: Bitvector(c.JUSTIFICATION_BITS_LENGTH)
        previous_justified_checkpoint: Checkpoint
        current_justified_checkpoint: Checkpoint
        finalized_checkpoint: Checkpoint
        # Not SSZ: the epoch caches of beacon/state (shared by copies, keyed by content).
        _cache: object

    local = locals()
    types = Types(config=cfg, **{name: local[name] for name in Types.__dataclass_fields__ if name != "config"})
    # Every container knows its preset, so spec functions keep spec signatures
    # (process_slots(state, slot)) and read constants from state.config, never from globals.
    for name in types.names:
        cls = getattr(types, name)
        cls.config = cfg
        cls.types = types
    return types
