"""Chain.import_blocks: a run of blocks with one signature check, equal to importing one by one."""
from __future__ import annotations

from pathlib import Path

import pytest

from beacon.chain import Chain, Status
from beacon.chain.testing import ChainBuilder


@pytest.fixture(scope="module")
def built(genesis16):
    builder = ChainBuilder(genesis16)
    roots = builder.extend(builder.genesis_root, 1, 41)  # five epochs: justifies and finalizes
    return builder, roots


def test_segments_match_one_by_one(tmp_path: Path, genesis16, built, clock) -> None:
    builder, roots = built
    blocks = [builder.blocks[r] for r in roots]
    one = Chain.open(tmp_path / "one", genesis16, clock=clock)
    seg = Chain.open(tmp_path / "seg", genesis16, clock=clock)
    try:
        for b in blocks:
            assert one.import_block(b).status is Status.IMPORTED
        results = []
        for i in range(0, len(blocks), 16):
            results += seg.import_blocks(blocks[i:i + 16])
        assert [r.status for r in results] == [Status.IMPORTED] * len(blocks)
        assert [r.root for r in results] == roots
        assert seg.head == one.head and seg.head.root == roots[-1]
        assert seg.finalized_checkpoint == one.finalized_checkpoint
        assert seg.finalized_checkpoint.epoch > 0
        # Overlapping ranges (a peer re-sending what we have): known blocks are KNOWN.
        again = seg.import_blocks(blocks[30:])
        assert {r.status for r in again} == {Status.KNOWN}
    finally:
        one.close()
        seg.close()


def test_bad_signature_in_a_segment_is_named_and_nothing_after_it_is_trusted(tmp_path: Path, genesis16, built,
                                                                               clock) -> None:
    builder, roots = built
    blocks = [builder.blocks[r].copy() for r in roots[:12]]
    bad = 7
    # A valid G2 point that signs another message: only the pairing check can tell.
    blocks[bad].signature = builder.blocks[roots[bad - 1]].signature
    chain = Chain.open(tmp_path / "c", genesis16, clock=clock)
    try:
        results = chain.import_blocks(blocks)
        statuses = [r.status for r in results]
        assert statuses[:bad] == [Status.IMPORTED] * bad
        assert statuses[bad] is Status.INVALID and "proposer signature" in results[bad].reason
        # Its descendants cannot be imported: their parent is not (held, waiting for it).
        assert set(statuses[bad + 1:]) == {Status.HELD}
        assert chain.head.root == roots[bad - 1]
    finally:
        chain.close()


def test_segment_starting_at_an_unknown_parent_is_held(tmp_path: Path, genesis16, built, clock) -> None:
    builder, roots = built
    blocks = [builder.blocks[r] for r in roots[5:10]]
    chain = Chain.open(tmp_path / "c", genesis16, clock=clock)
    try:
        results = chain.import_blocks(blocks)
        assert {r.status for r in results} == {Status.HELD}
        results = chain.import_blocks([builder.blocks[r] for r in roots[:5]])
        assert [r.status for r in results] == [Status.IMPORTED] * 5
        # The held blocks followed their parent in.
        assert chain.head.root == roots[9]
    finally:
        chain.close()
