"""The beacon node's LevelDB store (plyvel) inside a datadir.

Key space (one LevelDB, prefixes of one byte plus a tag so a key's kind is visible in dumps):

    m:schema            -> uint32 LE, the schema version this datadir was created with
    m:genesis           -> the genesis block root (32 bytes)
    m:preset            -> the preset name (for the error message when roots differ)
    b:<root>            -> BeaconBlock, SSZ
    a:<hash_tree_root>  -> the block's signing root: some 2019 peers named blocks by
                           hash_tree_root (docs/interop.md); blocks stored before this key
                           existed have none, which only costs such a peer a by-root miss
    i:<root>            -> BlockInfo: slot, parent, state root, post-state justified/finalized
    s:<root>            -> the post-state of block <root>, SSZ (not every block: see chain)
    h:<root>            -> empty; the block is at or above the finalized block ("hot")
    c:<slot u64 BE>     -> root of the canonical block at that slot (big-endian keeps slot order)
    f:head|f:justified|f:finalized -> head (root + slot) / Checkpoint, SSZ
    v:<index u64 BE>    -> a fork-choice latest message: epoch (u64 LE) + root

Why everything of one import goes through one `WriteBatch`: LevelDB applies a batch atomically
(it is one log record), so a process killed at any moment leaves either the whole import or
none of it. Batches that move finality are written with sync=True so even an OS crash cannot
lose finalized data; others rely on the OS page cache, which survives the process being killed.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import plyvel

SCHEMA_VERSION = 1
DB_DIRNAME = "beacon.ldb"

_SCHEMA = b"m:schema"
_GENESIS = b"m:genesis"
_PRESET = b"m:preset"
_HEAD = b"f:head"
_JUSTIFIED = b"f:justified"
_FINALIZED = b"f:finalized"
_BLOCK = b"b:"
_ALIAS = b"a:"
_INFO = b"i:"
_STATE = b"s:"
_HOT = b"h:"
_CANON = b"c:"
_VOTE = b"v:"


class StoreError(Exception):
    """The datadir cannot be used: wrong genesis, newer schema, locked, corrupt, unreadable."""


class DatadirInUse(StoreError):
    """Another process has this datadir open."""


class WrongGenesis(StoreError):
    """The datadir belongs to another chain."""


class SchemaTooNew(StoreError):
    """The datadir was written by a newer pybeacon."""


class CorruptStore(StoreError):
    """A record does not decode: the datadir was damaged outside pybeacon."""


class StoreWriteError(StoreError):
    """A write failed (disk full, filesystem read-only, I/O error). LevelDB applied none of
    the batch, so the datadir is consistent up to the last good write; the node must stop."""


def write_error_message(path: Path, e: BaseException) -> str:
    """One line for an operator: where, what, and the likely cause."""
    text = e.args[0] if e.args else str(e)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    hint = ""
    if "No space left" in str(text):
        hint = " (the disk is full)"
    elif "Read-only file system" in str(text) or "Permission denied" in str(text):
        hint = " (the datadir is not writable)"
    return f"cannot write to {path}{hint}: {text}"


@dataclass(frozen=True)
class BlockInfo:
    """What fork choice and range queries need about a block, without decoding it."""

    slot: int
    parent_root: bytes
    state_root: bytes
    justified_epoch: int
    justified_root: bytes
    finalized_epoch: int
    finalized_root: bytes

    _FMT = struct.Struct("<Q32s32sQ32sQ32s")

    def encode(self) -> bytes:
        return self._FMT.pack(self.slot, self.parent_root, self.state_root, self.justified_epoch,
                              self.justified_root, self.finalized_epoch, self.finalized_root)

    @classmethod
    def decode(cls, data: bytes) -> "BlockInfo":
        try:
            return cls(*cls._FMT.unpack(data))
        except struct.error:
            raise CorruptStore(f"block info record of {len(data)} bytes") from None


@dataclass(frozen=True)
class Head:
    root: bytes
    slot: int

    def encode(self) -> bytes:
        return self.root + self.slot.to_bytes(8, "little")

    @classmethod
    def decode(cls, data: bytes) -> "Head":
        if len(data) != 40:
            raise CorruptStore(f"head record of {len(data)} bytes")
        return cls(data[:32], int.from_bytes(data[32:], "little"))


def _slot_key(slot: int) -> bytes:
    return _CANON + slot.to_bytes(8, "big")


class _Ops:
    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: list[tuple[bytes, Optional[bytes]]] = []

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append((key, None))


class WriteBatch:
    """The writes of one import; nothing reaches the DB until `commit` (or the `with` exits cleanly)."""

    def __init__(self, db: "BeaconDB") -> None:
        self._db = db
        # Operations are collected and handed to LevelDB as one batch at commit, because
        # plyvel fixes a batch's `sync` flag at creation and we learn it only on set_finalized.
        self._wb = _Ops()
        self.sync = False
        self._done = False

    def put_block(self, root: bytes, block: Any, info: BlockInfo) -> None:
        self._wb.put(_BLOCK + root, block.serialize())
        self._wb.put(_ALIAS + bytes(block.hash_tree_root()), root)
        self._wb.put(_INFO + root, info.encode())
        self._wb.put(_HOT + root, b"")

    def delete_block(self, root: bytes) -> None:
        for prefix in (_BLOCK, _INFO, _HOT, _STATE):
            self._wb.delete(prefix + root)

    def put_state(self, block_root: bytes, state: Any) -> None:
        self._wb.put(_STATE + block_root, state.serialize())

    def delete_state(self, block_root: bytes) -> None:
        self._wb.delete(_STATE + block_root)

    def mark_cold(self, root: bytes) -> None:
        """The block is now below the finalized block: fork choice no longer loads it."""
        self._wb.delete(_HOT + root)

    def set_canonical(self, slot: int, root: bytes) -> None:
        self._wb.put(_slot_key(slot), root)

    def delete_canonical(self, slot: int) -> None:
        self._wb.delete(_slot_key(slot))

    def set_head(self, head: Head) -> None:
        self._wb.put(_HEAD, head.encode())

    def set_justified(self, checkpoint: Any) -> None:
        self._wb.put(_JUSTIFIED, checkpoint.serialize())

    def set_finalized(self, checkpoint: Any) -> None:
        self._wb.put(_FINALIZED, checkpoint.serialize())
        self.sync = True  # finality is never lost, even to an OS crash

    def put_latest_message(self, index: int, epoch: int, root: bytes) -> None:
        self._wb.put(_VOTE + index.to_bytes(8, "big"), epoch.to_bytes(8, "little") + root)

    def commit(self) -> None:
        if self._done:
            raise StoreError("write batch already committed")
        self._done = True
        self._db._check_open()
        try:
            with self._db._db.write_batch(transaction=True, sync=self.sync) as wb:  # type: ignore[union-attr]
                for key, value in self._wb.ops:
                    if value is None:
                        wb.delete(key)
                    else:
                        wb.put(key, value)
        except plyvel.IOError as e:
            raise StoreWriteError(write_error_message(self._db.path, e)) from None

    def __len__(self) -> int:
        return len(self._wb.ops)

    def __enter__(self) -> "WriteBatch":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None and not self._done:
            self.commit()
        self._done = True  # on an exception nothing is written


class BeaconDB:
    """The store of one node. Opening checks the schema and the genesis; never overwrites."""

    def __init__(self, datadir: str | os.PathLike[str], types: Any, genesis_root: bytes) -> None:
        self.types = types
        self.path = Path(datadir) / DB_DIRNAME
        self._db: Optional[plyvel.DB] = None
        try:
            Path(datadir).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create datadir {datadir}: {e.strerror}") from None
        try:
            self._db = plyvel.DB(str(self.path), create_if_missing=True)
        except plyvel.IOError as e:
            if "lock" in str(e).lower():
                raise DatadirInUse(f"datadir {datadir} is in use by another process") from None
            raise StoreError(f"cannot open datadir {datadir}: {e}") from None
        except plyvel.CorruptionError as e:
            raise CorruptStore(f"datadir {datadir} is corrupt: {e}") from None
        try:
            self._check_or_stamp(genesis_root)
        except BaseException:
            self.close()
            raise

    def _check_or_stamp(self, genesis_root: bytes) -> None:
        db = self._db
        assert db is not None
        raw = db.get(_SCHEMA)
        preset = self.types.config.preset
        if raw is None:
            if any(True for _ in db.iterator(include_value=False)):
                raise StoreError(f"{self.path} holds data but no schema stamp: not a pybeacon datadir")
            # A fresh datadir: stamp schema, genesis and preset in one synced batch.
            with db.write_batch(transaction=True, sync=True) as wb:
                wb.put(_SCHEMA, struct.pack("<I", SCHEMA_VERSION))
                wb.put(_GENESIS, genesis_root)
                wb.put(_PRESET, preset.encode())
            return
        if len(raw) != 4:
            raise CorruptStore(f"{self.path}: schema record of {len(raw)} bytes")
        version = struct.unpack("<I", raw)[0]
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(f"datadir {self.path.parent} has schema version {version}, newer than this "
                               f"pybeacon's {SCHEMA_VERSION}: upgrade pybeacon or use another --datadir")
        stored = db.get(_GENESIS)
        if stored != genesis_root:
            stored_preset = (db.get(_PRESET) or b"?").decode(errors="replace")
            raise WrongGenesis(
                f"datadir {self.path.parent} belongs to another chain (genesis block 0x{(stored or b'').hex()[:16]}.., "
                f"preset {stored_preset}); this node's genesis block is 0x{genesis_root.hex()[:16]}.. "
                f"(preset {preset}). Use another --datadir; the existing one is left untouched")

    # --- lifecycle ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._db is None:
            raise StoreError("the store is closed")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def closed(self) -> bool:
        return self._db is None

    def __enter__(self) -> "BeaconDB":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def batch(self) -> WriteBatch:
        self._check_open()
        return WriteBatch(self)

    # --- reads ----------------------------------------------------------------------------
    def _get(self, key: bytes) -> Optional[bytes]:
        self._check_open()
        return self._db.get(key)  # type: ignore[union-attr]

    @property
    def genesis_root(self) -> bytes:
        return self._get(_GENESIS) or b""

    def has_block(self, root: bytes) -> bool:
        return self._get(_INFO + root) is not None

    def get_block(self, root: bytes) -> Optional[Any]:
        raw = self._get(_BLOCK + root)
        return None if raw is None else self._decode(self.types.BeaconBlock, raw, "block")

    def get_block_bytes(self, root: bytes) -> Optional[bytes]:
        """The stored SSZ of a block, for serving it to peers without a decode/encode round."""
        return self._get(_BLOCK + root)

    def get_block_alias(self, hash_tree_root: bytes) -> Optional[bytes]:
        """The signing root of the stored block whose hash_tree_root this is."""
        return self._get(_ALIAS + hash_tree_root)

    def get_block_info(self, root: bytes) -> Optional[BlockInfo]:
        raw = self._get(_INFO + root)
        return None if raw is None else BlockInfo.decode(raw)

    def get_state(self, block_root: bytes) -> Optional[Any]:
        raw = self._get(_STATE + block_root)
        return None if raw is None else self._decode(self.types.BeaconState, raw, "state")

    def has_state(self, block_root: bytes) -> bool:
        return self._get(_STATE + block_root) is not None

    def get_canonical_root(self, slot: int) -> Optional[bytes]:
        return self._get(_slot_key(slot))

    def canonical_roots(self, start_slot: int, end_slot: int) -> Iterator[tuple[int, bytes]]:
        """(slot, root) of canonical blocks with start_slot <= slot < end_slot, in slot order."""
        self._check_open()
        for key, value in self._db.iterator(start=_slot_key(start_slot), stop=_slot_key(min(end_slot, 2**64 - 1))):  # type: ignore[union-attr]
            yield int.from_bytes(key[len(_CANON):], "big"), value

    def get_head(self) -> Optional[Head]:
        raw = self._get(_HEAD)
        return None if raw is None else Head.decode(raw)

    def get_justified(self) -> Optional[Any]:
        raw = self._get(_JUSTIFIED)
        return None if raw is None else self._decode(self.types.Checkpoint, raw, "justified checkpoint")

    def get_finalized(self) -> Optional[Any]:
        raw = self._get(_FINALIZED)
        return None if raw is None else self._decode(self.types.Checkpoint, raw, "finalized checkpoint")

    def hot_roots(self) -> list[bytes]:
        """Roots of the blocks at or above the finalized block (what fork choice loads)."""
        self._check_open()
        return [k[len(_HOT):] for k in self._db.iterator(prefix=_HOT, include_value=False)]  # type: ignore[union-attr]

    def state_roots_stored(self) -> list[bytes]:
        self._check_open()
        return [k[len(_STATE):] for k in self._db.iterator(prefix=_STATE, include_value=False)]  # type: ignore[union-attr]

    def latest_messages(self) -> Iterator[tuple[int, int, bytes]]:
        """(validator index, epoch, root) of every stored latest message."""
        self._check_open()
        for key, value in self._db.iterator(prefix=_VOTE):  # type: ignore[union-attr]
            if len(value) != 40:
                raise CorruptStore(f"latest message record of {len(value)} bytes")
            yield int.from_bytes(key[len(_VOTE):], "big"), int.from_bytes(value[:8], "little"), value[8:]

    def _decode(self, typ: Any, raw: bytes, what: str) -> Any:
        from beacon.ssz import DecodeError, decode

        try:
            return decode(typ, raw)
        except DecodeError as e:
            raise CorruptStore(f"stored {what} does not decode: {e}") from None
