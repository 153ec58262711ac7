"""The slasher (beacon/chain/slasher.py) and the operation pool's handling of slashings, on real
signed messages from interop keys: what the slasher builds must pass the spec's own
process_proposer_slashing / process_attester_slashing, and the pool must cap and drop."""
from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive_slasher import NaiveSlasher

from beacon.chain.slasher import Slasher
from beacon.chain.testing import KEYS, ChainBuilder, make_attestations, state_at_slot
from beacon.crypto import bls
from beacon.state import (
    get_beacon_proposer_index, get_domain, get_indexed_attestation, is_slashable_attestation_data,
    process_attester_slashing, process_proposer_slashing,
)
from beacon.validator.pools import OperationPool


def indexed(state: Any, att: Any) -> Any:
    return get_indexed_attestation(state, att)


def signed_vote(state: Any, validator: int, source: int, target: int, root: bytes = b"\x01" * 32) -> Any:
    """An IndexedAttestation by one validator with the given source and target epochs."""
    t, cfg = state.types, state.config
    data = t.AttestationData(beacon_block_root=root, source=t.Checkpoint(epoch=source, root=b"\x02" * 32),
                             target=t.Checkpoint(epoch=target, root=b"\x03" * 32))
    message = t.AttestationDataAndCustodyBit(data=data, custody_bit=False).hash_tree_root()
    sig = bls.sign(message, KEYS[validator], get_domain(state, cfg.DOMAIN_ATTESTATION, target))
    return t.IndexedAttestation(custody_bit_0_indices=[validator], custody_bit_1_indices=[], data=data, signature=sig)


def test_two_blocks_of_one_proposer_in_one_slot(genesis16):
    chain = ChainBuilder(genesis16)
    r1 = chain.build(chain.genesis_root, 1, graffiti=b"one")
    r2 = chain.build(chain.genesis_root, 1, graffiti=b"two")
    proposer = int(get_beacon_proposer_index(state_at_slot(genesis16, 1)))
    slasher = Slasher(genesis16.types, genesis16.config)
    assert slasher.on_block(chain.blocks[r1], proposer) is None
    assert slasher.on_block(chain.blocks[r1], proposer) is None  # the same block again is no offence
    slashing = slasher.on_block(chain.blocks[r2], proposer)
    assert slashing is not None and int(slashing.proposer_index) == proposer
    state = state_at_slot(genesis16, 2)
    process_proposer_slashing(state, slashing)  # signatures and conditions per spec
    assert state.validators[proposer].slashed
    assert slasher.on_block(chain.blocks[r2], proposer) is None  # reported once


def test_double_vote_from_two_aggregates(genesis16):
    chain = ChainBuilder(genesis16)
    r1 = chain.build(chain.genesis_root, 1)
    honest = make_attestations(genesis16, chain.genesis_root, 1)[0]  # votes for genesis
    other = make_attestations(chain.states[r1], r1, 1)[0]  # same slot and target epoch, votes for r1
    state = state_at_slot(chain.states[r1], 2)
    slasher = Slasher(genesis16.types, genesis16.config)
    assert slasher.on_indexed_attestation(indexed(state, honest)) == []
    found = slasher.on_indexed_attestation(indexed(state, other))
    assert len(found) == 1  # one slashing for the pair, naming the whole committee
    committee = set(int(i) for i in indexed(state, honest).custody_bit_0_indices)
    process_attester_slashing(state, found[0])
    assert {i for i in range(16) if state.validators[i].slashed} == committee
    assert slasher.on_indexed_attestation(indexed(state, other)) == []


def test_surround_vote_in_either_order(genesis16):
    state = state_at_slot(genesis16, 4 * genesis16.config.SLOTS_PER_EPOCH)
    inner, outer = signed_vote(state, 5, 1, 2), signed_vote(state, 5, 0, 3)
    for first, second in ((inner, outer), (outer, inner)):
        slasher = Slasher(state.types, state.config)
        assert slasher.on_indexed_attestation(first) == []
        (slashing,) = slasher.on_indexed_attestation(second)
        # process_attester_slashing wants the surrounding vote first
        assert int(slashing.attestation_1.data.target.epoch) == 3
        s = state.copy()
        process_attester_slashing(s, slashing)
        assert s.validators[5].slashed
    # neither surrounding nor same target: no offence
    slasher = Slasher(state.types, state.config)
    assert slasher.on_indexed_attestation(signed_vote(state, 6, 0, 1)) == []
    assert slasher.on_indexed_attestation(signed_vote(state, 6, 1, 2)) == []
    assert slasher.on_indexed_attestation(signed_vote(state, 6, 1, 2)) == []  # the same vote again


def test_memory_is_bounded_by_the_windows(genesis16):
    state = state_at_slot(genesis16, 1)
    slasher = Slasher(state.types, state.config, span_epochs=8, record_epochs=2)
    slasher.on_indexed_attestation(signed_vote(state, 8, 2, 3))
    for target in range(1, 12):
        slasher.on_indexed_attestation(signed_vote(state, 7, target - 1, target))
    size = slasher.nbytes()
    assert len(slasher) <= 2  # attestation objects of the record window only
    for target in range(12, 42):
        slasher.on_indexed_attestation(signed_vote(state, 7, target - 1, target))
    assert len(slasher) <= 2 and slasher.nbytes() == size  # fixed by the windows, not the epochs
    # a surround of a vote older than the span window (epochs 34..41) goes unnoticed (documented limit)
    assert slasher.on_indexed_attestation(signed_vote(state, 8, 1, 41)) == [] and slasher.unbuilt == 0
    # inside the span window but older than the record window (41..42): found, not built, counted
    assert slasher.on_indexed_attestation(signed_vote(state, 7, 36, 42)) == []  # surrounds 37->38
    assert slasher.unbuilt == 1
    # within the record window it is built, whether or not the validator's old proposals were pruned
    slasher = Slasher(state.types, state.config, span_epochs=8, record_epochs=4)
    slasher.on_indexed_attestation(signed_vote(state, 7, 8, 10))
    slasher.on_block(state.types.BeaconBlock(slot=7 * state.config.SLOTS_PER_EPOCH), 7)
    # epoch 12 prunes the epoch-7 proposal (record floor 9) but keeps the vote 8->10, which 5->12 surrounds
    assert len(slasher.on_indexed_attestation(signed_vote(state, 7, 5, 12))) == 1


def test_operation_pool_caps_checks_and_drops_slashings(genesis16):
    cfg = genesis16.config
    chain = ChainBuilder(genesis16)
    state = state_at_slot(genesis16, 2)
    pool = OperationPool()
    # two attester slashings of different committees: MAX_ATTESTER_SLASHINGS (1 in minimal) per block
    slasher = Slasher(state.types, cfg)
    for slot in (1, 2):
        r = chain.build(chain.genesis_root, slot, graffiti=bytes([slot]))
        a = make_attestations(genesis16, chain.genesis_root, slot)[0]
        b = make_attestations(chain.states[r], r, slot)[0]
        slasher.on_indexed_attestation(indexed(state, a))
        for found in slasher.on_indexed_attestation(indexed(state, b)):
            assert pool.add_attester_slashing(found)
    assert len(pool.attester_slashings) == 2
    ps, asl, ex = pool.for_block(state)
    assert len(asl) == cfg.MAX_ATTESTER_SLASHINGS == 1 and ps == [] and ex == []
    # a proposer slashing with a bad signature is not included (and a good one is)
    r1, r2 = chain.build(chain.genesis_root, 3, graffiti=b"x"), chain.build(chain.genesis_root, 3, graffiti=b"y")
    proposer = int(get_beacon_proposer_index(state_at_slot(genesis16, 3)))
    assert slasher.on_block(chain.blocks[r1], proposer) is None
    good = slasher.on_block(chain.blocks[r2], proposer)
    bad = good.copy()
    bad.header_2.signature = good.header_1.signature
    assert pool.add_proposer_slashing(bad)
    assert pool.for_block(state)[0] == []
    pool.proposer_slashings.clear()
    assert pool.add_proposer_slashing(good)
    assert len(pool.for_block(state)[0]) == 1
    # once the chain has slashed them, the pool forgets them: settled, never valid again
    process_proposer_slashing(state, good)
    process_attester_slashing(state, asl[0])
    ps, asl2, _ = pool.for_block(state)
    assert ps == [] and int(proposer) not in pool.proposer_slashings
    assert len(pool.attester_slashings) == 1 and len(asl2) == 1 and asl2[0].hash_tree_root() != asl[0].hash_tree_root()


def test_gossip_validator_finds_pools_and_hands_out_a_double_proposal(tmp_path, genesis16, clock):
    """Through a real Chain (LevelDB in tmp_path): two imported blocks of one proposer and slot
    make the gossip validator build, check, pool and hand out the ProposerSlashing once; received
    copies are judged by the spec (a tampered one REJECTed, a repeat IGNOREd)."""
    from beacon.chain import Chain, Status
    from beacon.chain.gossip import GossipValidator, Verdict

    builder = ChainBuilder(genesis16)
    r1 = builder.build(builder.genesis_root, 1, graffiti=b"one")
    r2 = builder.build(builder.genesis_root, 1, graffiti=b"two")
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    try:
        gossip = GossipValidator(chain, clock=clock)
        handed: list[tuple[str, Any]] = []
        gossip.on_slashing.append(lambda kind, op: handed.append((kind, op)))
        assert chain.import_block(builder.blocks[r1]).status is Status.IMPORTED
        assert handed == []
        assert chain.import_block(builder.blocks[r2]).status is Status.IMPORTED
        assert [k for k, _ in handed] == ["proposer_slashing"]
        slashing = handed[0][1]
        assert list(gossip.operations["proposer_slashing"].values()) == [slashing]
        assert gossip.slashings_found == {"proposer_slashing": 1, "attester_slashing": 0}
        tampered = slashing.copy()
        tampered.header_2.signature = slashing.header_1.signature
        assert gossip.validate_operation("proposer_slashing", tampered.serialize()) is Verdict.REJECT
        assert gossip.validate_operation("proposer_slashing", slashing.serialize()) is Verdict.IGNORE  # pooled
        assert gossip.validate_operation("proposer_slashing", b"\x00" * 7) is Verdict.REJECT
        # a third block of the same proposer and epoch adds nothing: reported once
        r3 = builder.build(builder.genesis_root, 1, graffiti=b"three")
        assert chain.import_block(builder.blocks[r3]).status is Status.IMPORTED
        assert len(handed) == 1
    finally:
        chain.close()


def unsigned_vote(types: Any, validators: list[int], source: int, target: int, root: int, split: bool = False) -> Any:
    """An IndexedAttestation without a signature: the slasher trusts its caller for those
    (`split`: validators from 3 up in custody_bit_1_indices)."""
    data = types.AttestationData(beacon_block_root=bytes([root]) * 32,
                                 source=types.Checkpoint(epoch=source, root=b"\x02" * 32),
                                 target=types.Checkpoint(epoch=target, root=b"\x03" * 32))
    bit_1 = sorted(v for v in validators if split and v >= 3)
    return types.IndexedAttestation(custody_bit_0_indices=sorted(set(validators) - set(bit_1)),
                                    custody_bit_1_indices=bit_1, data=data)


votes = st.tuples(st.sets(st.integers(0, 5), min_size=1, max_size=4), st.integers(0, 30), st.integers(0, 6),
                  st.integers(0, 1), st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=st.lists(votes, min_size=1, max_size=40))
def test_same_validators_reported_as_the_naive_slasher(genesis16, stream):
    """On random streams of aggregates (double votes, surrounds either way, repeats, late
    votes), the span store reports the same validators after every message as the old
    dict-of-votes slasher, and every slashing it builds is slashable for the validators it names."""
    types, cfg = genesis16.types, genesis16.config
    naive, spans = NaiveSlasher(types, cfg, history_epochs=1000), Slasher(types, cfg, span_epochs=64, record_epochs=64)
    reported: set[int] = set()
    for validators, source, length, root, split in stream:
        att = unsigned_vote(types, list(validators), source, source + length, root, split)
        naive.on_indexed_attestation(att)
        for slashing in spans.on_indexed_attestation(att):
            a, b = slashing.attestation_1, slashing.attestation_2
            assert is_slashable_attestation_data(a.data, b.data)
            reported |= (set(map(int, a.custody_bit_0_indices)) | set(map(int, a.custody_bit_1_indices))) & \
                (set(map(int, b.custody_bit_0_indices)) | set(map(int, b.custody_bit_1_indices)))
        assert {v for kind, v in naive._reported if kind == "attestation"} == set(np.flatnonzero(spans._reported))
    assert reported == set(np.flatnonzero(spans._reported)) and spans.unbuilt == 0


def test_a_source_after_its_target_leaves_the_spans_intact(genesis16):
    """Such a vote (9->3) is judged for double votes only; the spans stay right for the rest."""
    types, cfg = genesis16.types, genesis16.config
    slasher = Slasher(types, cfg, span_epochs=16)
    assert slasher.on_indexed_attestation(unsigned_vote(types, [1, 2], 9, 3, 0)) == []
    assert len(slasher.on_indexed_attestation(unsigned_vote(types, [1], 9, 3, 1))) == 1  # double vote
    for source, target in ((5, 6), (6, 7), (6, 8)):
        assert slasher.on_indexed_attestation(unsigned_vote(types, [2], source, target, 0)) == []
    (slashing,) = slasher.on_indexed_attestation(unsigned_vote(types, [2], 4, 9, 0))  # surrounds 5->6
    assert is_slashable_attestation_data(slashing.attestation_1.data, slashing.attestation_2.data)
    assert int(slashing.attestation_1.data.target.epoch) == 9


def test_surround_spanning_more_than_64_epochs(genesis16):
    state = state_at_slot(genesis16, 1)
    t = state.types
    # the earlier vote surrounds the later one, 150 epochs wide: built (the outer one is recent)
    slasher = Slasher(t, state.config)
    assert slasher.on_indexed_attestation(signed_vote(state, 3, 0, 150)) == []
    (slashing,) = slasher.on_indexed_attestation(signed_vote(state, 3, 100, 101))
    s = state.copy()
    process_attester_slashing(s, slashing)
    assert s.validators[3].slashed
    # the later vote surrounds one 190 epochs older: found; built when records reach that far
    for record_epochs, built in ((64, 0), (256, 1)):
        slasher = Slasher(t, state.config, record_epochs=record_epochs)
        slasher.on_indexed_attestation(signed_vote(state, 4, 10, 11))
        found = slasher.on_indexed_attestation(signed_vote(state, 4, 5, 200))
        assert len(found) == built and slasher.unbuilt == 1 - built
        for slashing in found:
            assert int(slashing.attestation_1.data.target.epoch) == 200
            s = state.copy()
            process_attester_slashing(s, slashing)
            assert s.validators[4].slashed


def test_block_attestations_are_judged_once(genesis16):
    """A gossip aggregate met again in a block is skipped (no committee lookup: the state is
    not even needed); a conflicting one only in a block is found."""
    chain = ChainBuilder(genesis16)
    r1 = chain.build(chain.genesis_root, 1)
    honest = make_attestations(genesis16, chain.genesis_root, 1)[0]
    other = make_attestations(chain.states[r1], r1, 1)[0]
    state = state_at_slot(chain.states[r1], 2)
    slasher = Slasher(genesis16.types, genesis16.config)
    assert slasher.on_attestation(honest, indexed(state, honest)) == []
    assert slasher.on_block_attestations(None, [honest]) == []  # seen on gossip: skipped
    (slashing,) = slasher.on_block_attestations(state, [honest, other])
    process_attester_slashing(state, slashing)


def test_gossip_validator_finds_a_double_vote_seen_only_in_blocks(tmp_path, genesis16, clock):
    """Through a real Chain: two imported blocks carry one committee's two votes for slot 1
    (for genesis, and for block 1); no attestation came by gossip, the slashing is built."""
    from beacon.chain import Chain, Status
    from beacon.chain.gossip import GossipValidator

    builder = ChainBuilder(genesis16)
    r1 = builder.build(builder.genesis_root, 1)
    honest = make_attestations(genesis16, builder.genesis_root, 1)[0]
    other = make_attestations(builder.states[r1], r1, 1)[0]
    r2 = builder.build(r1, 2, attestations=[honest])
    r3 = builder.build(r2, 3, attestations=[other])
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    try:
        gossip = GossipValidator(chain, clock=clock)
        handed: list[tuple[str, Any]] = []
        gossip.on_slashing.append(lambda kind, op: handed.append((kind, op)))
        for r in (r1, r2, r3):
            assert chain.import_block(builder.blocks[r]).status is Status.IMPORTED
        assert [k for k, _ in handed] == ["attester_slashing"]
        state = chain.head_state()
        process_attester_slashing(state, handed[0][1])
    finally:
        chain.close()
