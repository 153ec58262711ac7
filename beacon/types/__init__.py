"""Phase-0 SSZ containers per Config: `get_types(cfg).BeaconState` etc."""
from beacon.types.phase0 import (
    BLSPubkey, BLSSignature, DomainType, Epoch, Gwei, Hash, Shard, Slot, Types, ValidatorIndex, Version,
    get_types,
)

__all__ = ["BLSPubkey", "BLSSignature", "DomainType", "Epoch", "Gwei", "Hash", "Shard", "Slot", "Types",
           "ValidatorIndex", "Version", "get_types"]
