"""BeaconDB on real LevelDB directories: stamping, refusals, batches, reads after reopen."""
from __future__ import annotations

import struct

import plyvel
import pytest

from beacon.config import load_config
from beacon.db import (
    DB_DIRNAME, SCHEMA_VERSION, BeaconDB, BlockInfo, DatadirInUse, Head, SchemaTooNew, StoreError, WrongGenesis,
)
from beacon.types import get_types

T = get_types(load_config("minimal"))
G = b"\x11" * 32


def _block(slot: int, parent: bytes) -> object:
    return T.BeaconBlock(slot=slot, parent_root=parent, state_root=bytes([slot % 256]) * 32)


def _info(block) -> BlockInfo:
    return BlockInfo(block.slot, block.parent_root, block.state_root, 0, G, 0, G)


def test_fresh_datadir_is_stamped_and_reopens(tmp_path):
    with BeaconDB(tmp_path, T, G) as db:
        assert db.genesis_root == G
        b = _block(1, G)
        root = b.signing_root()
        with db.batch() as wb:
            wb.put_block(root, b, _info(b))
            wb.set_canonical(1, root)
            wb.set_head(Head(root, 1))
            wb.put_latest_message(7, 3, root)
    with BeaconDB(tmp_path, T, G) as db:
        assert db.get_block(root) == b
        assert db.get_block_info(root) == _info(b)
        assert db.get_head() == Head(root, 1)
        assert list(db.canonical_roots(0, 10)) == [(1, root)]
        assert list(db.latest_messages()) == [(7, 3, root)]
        assert db.hot_roots() == [root]


def test_other_genesis_is_refused_and_left_untouched(tmp_path):
    with BeaconDB(tmp_path, T, G) as db:
        with db.batch() as wb:
            wb.set_head(Head(G, 0))
    with pytest.raises(WrongGenesis, match="belongs to another chain.*left untouched"):
        BeaconDB(tmp_path, T, b"\x22" * 32)
    with BeaconDB(tmp_path, T, G) as db:  # still ours, still intact
        assert db.get_head() == Head(G, 0)


def test_newer_schema_is_refused(tmp_path):
    BeaconDB(tmp_path, T, G).close()
    raw = plyvel.DB(str(tmp_path / DB_DIRNAME))
    raw.put(b"m:schema", struct.pack("<I", SCHEMA_VERSION + 1))
    raw.close()
    with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 1}"):
        BeaconDB(tmp_path, T, G)


def test_foreign_leveldb_is_refused(tmp_path):
    raw = plyvel.DB(str(tmp_path / DB_DIRNAME), create_if_missing=True)
    raw.put(b"something", b"else")
    raw.close()
    with pytest.raises(StoreError, match="no schema stamp"):
        BeaconDB(tmp_path, T, G)


def test_datadir_in_use(tmp_path):
    with BeaconDB(tmp_path, T, G):
        with pytest.raises(DatadirInUse):
            BeaconDB(tmp_path, T, G)


def test_failed_batch_writes_nothing(tmp_path):
    with BeaconDB(tmp_path, T, G) as db:
        b = _block(2, G)
        with pytest.raises(RuntimeError):
            with db.batch() as wb:
                wb.put_block(b.signing_root(), b, _info(b))
                wb.set_head(Head(b.signing_root(), 2))
                raise RuntimeError("import failed half way")
        assert db.get_block(b.signing_root()) is None and db.get_head() is None


def test_canonical_range_and_reorg_rewrite(tmp_path):
    with BeaconDB(tmp_path, T, G) as db:
        with db.batch() as wb:
            for s in range(1, 40):
                wb.set_canonical(s, bytes([s]) * 32)
        with db.batch() as wb:  # a reorg rewrites slots 30.. in the same batch
            for s in range(30, 40):
                wb.delete_canonical(s)
            wb.set_canonical(31, b"\xaa" * 32)
        got = list(db.canonical_roots(28, 64))
        assert got == [(28, bytes([28]) * 32), (29, bytes([29]) * 32), (31, b"\xaa" * 32)]
        assert db.get_canonical_root(300) is None


def test_finalized_batch_is_synced_and_states_round_trip(tmp_path):
    with BeaconDB(tmp_path, T, G) as db:
        state = T.BeaconState(slot=5, genesis_time=99)
        cp = T.Checkpoint(epoch=1, root=b"\x05" * 32)
        wb = db.batch()
        wb.put_state(b"\x05" * 32, state)
        wb.set_finalized(cp)
        assert wb.sync
        wb.commit()
        assert db.get_state(b"\x05" * 32).serialize() == state.serialize()
        assert db.get_finalized() == cp
        with db.batch() as wb2:
            wb2.delete_state(b"\x05" * 32)
        assert db.get_state(b"\x05" * 32) is None
    with pytest.raises(StoreError, match="closed"):
        db.get_block(G)
