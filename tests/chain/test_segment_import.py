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


# -- a bad signature anywhere in a segment: found, named, attributed to its block ----------------

def _resigned(parent_state, block):
    """`block` after tampering: its state root and proposer signature made right again, so only
    the tampered signature is wrong (returns block, post-state)."""
    from beacon.chain.testing import KEYS, state_at_slot
    from beacon.crypto import bls
    from beacon.state.accessors import get_beacon_proposer_index, get_domain
    from beacon.state.slots import apply_block

    pre = state_at_slot(parent_state, block.slot)
    with bls.enabled(False):
        post = apply_block(parent_state, block, validate_state_root=False)
    block.state_root = post.hash_tree_root()
    sk = KEYS[get_beacon_proposer_index(pre)]
    block.signature = bls.sign(block.signing_root(), sk, get_domain(pre, pre.config.DOMAIN_BEACON_PROPOSER))
    return block, post


def _chain_with_bad(genesis, kind: str, bad_slot: int, length: int):
    """`length` blocks from slot 1; the block at `bad_slot` carries one bad signature of `kind`
    (a valid G2 point that signs something else) and is otherwise valid."""
    builder = ChainBuilder(genesis)
    roots = builder.extend(builder.genesis_root, 1, bad_slot)
    parent = roots[-1]
    good = builder.blocks[builder.build(parent, bad_slot, attest_slots=[bad_slot - 1])].copy()
    other = builder.blocks[roots[-2]]
    if kind == "attestation":
        assert len(good.body.attestations) >= 1
        good.body.attestations[0].signature = other.signature
        label = "attestation"
    elif kind == "randao":
        good.body.randao_reveal = other.signature
        label = "randao reveal"
    else:
        good.signature = other.signature
        label = "proposer signature"
    if kind != "proposer":
        good, post = _resigned(builder.states[parent], good)
    else:
        post = builder.states[good.signing_root()]
    bad_root = good.signing_root()
    builder.blocks[bad_root], builder.states[bad_root] = good, post
    roots.append(bad_root)
    roots += builder.extend(bad_root, bad_slot + 1, length + 1)
    return [builder.blocks[r] for r in roots], roots, label


@pytest.mark.parametrize("kind,bad_slot", [("attestation", 3), ("randao", 13), ("proposer", 20)])
def test_bad_signature_anywhere_in_a_run_is_attributed_to_its_block(tmp_path: Path, genesis16, clock, kind: str,
                                                                     bad_slot: int) -> None:
    """One run of 22 blocks (segments of 16 and 6, one worker batch each): the bad block is
    named with the right reason, every block before it is imported, none after it."""
    from beacon.crypto.batch import default_verifier

    blocks, roots, label = _chain_with_bad(genesis16, kind, bad_slot, 22)
    verifier = default_verifier()
    assert verifier.wait_ready()  # the worker process checks (most of) each segment
    batches = verifier.batches
    chain = Chain.open(tmp_path / "c", genesis16, clock=clock)
    try:
        results = []
        for i in range(0, len(blocks), 16):
            results += chain.import_blocks(blocks[i:i + 16])
        assert verifier.batches > batches
        statuses = [r.status for r in results]
        bad = bad_slot - 1
        assert statuses[:bad] == [Status.IMPORTED] * bad
        assert statuses[bad] is Status.INVALID, results[bad]
        assert label in results[bad].reason and "invalid signature" in results[bad].reason
        assert set(statuses[bad + 1:]) == {Status.HELD}
        assert chain.head.root == roots[bad - 1]
        # The post-states the segment kept or rebuilt are the real ones.
        assert chain.head_state().hash_tree_root() == bytes(blocks[bad - 1].state_root)
    finally:
        chain.close()


def test_segment_post_states_match_one_by_one(tmp_path: Path, genesis16, built, clock) -> None:
    """A segment keeps only some post-states; the others are rebuilt on demand and are equal."""
    builder, roots = built
    blocks = [builder.blocks[r] for r in roots[:20]]
    chain = Chain.open(tmp_path / "c", genesis16, clock=clock)
    try:
        assert [r.status for r in chain.import_blocks(blocks)] == [Status.IMPORTED] * 20
        for r, b in zip(roots[:20], blocks):
            assert chain.state_at_block(r).hash_tree_root() == bytes(b.state_root)
    finally:
        chain.close()


def test_a_block_failing_mid_segment_keeps_the_blocks_before_it(tmp_path: Path, genesis16, built, clock) -> None:
    """A wrong state root at the 11th block of a run: the segment stops there (its working
    state is rebuilt for the 10 blocks before), the 10 are imported, the 11th is invalid."""
    from beacon.chain.testing import KEYS, state_at_slot
    from beacon.crypto import bls
    from beacon.state.accessors import get_beacon_proposer_index, get_domain

    builder, roots = built
    blocks = [builder.blocks[r].copy() for r in roots[:14]]
    bad = 10
    pre = state_at_slot(builder.states[roots[bad - 1]], blocks[bad].slot)
    blocks[bad].state_root = b"\x11" * 32
    blocks[bad].signature = bls.sign(blocks[bad].signing_root(), KEYS[get_beacon_proposer_index(pre)],
                                     get_domain(pre, pre.config.DOMAIN_BEACON_PROPOSER))
    chain = Chain.open(tmp_path / "c", genesis16, clock=clock)
    try:
        results = chain.import_blocks(blocks)
        statuses = [r.status for r in results]
        assert statuses[:bad] == [Status.IMPORTED] * bad
        assert statuses[bad] is Status.INVALID and "state root" in results[bad].reason
        assert chain.head.root == roots[bad - 1]
        assert chain.head_state().hash_tree_root() == bytes(blocks[bad - 1].state_root)
    finally:
        chain.close()
