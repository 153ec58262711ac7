"""The node's persistent store (LevelDB via plyvel): see beacon/db/store.py for the key space."""
from beacon.db.store import (
    DB_DIRNAME, SCHEMA_VERSION, BeaconDB, BlockInfo, CorruptStore, DatadirInUse, Head, SchemaTooNew, StoreError,
    StoreWriteError, WriteBatch, WrongGenesis,
)

__all__ = ["DB_DIRNAME", "SCHEMA_VERSION", "BeaconDB", "BlockInfo", "CorruptStore", "DatadirInUse", "Head",
           "SchemaTooNew", "StoreError", "StoreWriteError", "WriteBatch", "WrongGenesis"]
