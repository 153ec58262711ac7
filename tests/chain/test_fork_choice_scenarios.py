"""Fork-choice scenarios on real signed blocks and attestations through the real state transition.

After every step the incremental get_head must agree with the spec's get_head (get_head_naive).
"""
from __future__ import annotations


from beacon.chain import fork_choice as fc
from beacon.chain.service import Chain, Status
from beacon.chain.testing import ChainBuilder, make_attestations, make_epoch_attestations


def _agree(chain: Chain) -> bytes:
    head = fc.get_head(chain.store)
    assert head == fc.get_head_naive(chain.store)
    assert chain.head.root == head
    return head


def _import(chain: Chain, builder: ChainBuilder, roots) -> None:
    for r in roots:
        res = chain.import_block(builder.blocks[r])
        assert res.status is Status.IMPORTED, res
        _agree(chain)


def test_competing_forks_without_votes_break_ties_by_root(tmp_path, genesis16, clock):
    b = ChainBuilder(genesis16)
    a = b.extend(b.genesis_root, 1, 4, attest=False)
    c = b.extend(b.genesis_root, 2, 6, attest=False)  # longer, but LMD-GHOST does not care
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    _import(chain, b, a + c)
    want = a[-1] if a[0] > c[0] else c[-1]  # zero weights: the larger root at the fork wins
    assert chain.head.root == want
    chain.close()


def test_votes_move_the_head_between_forks(tmp_path, genesis16, clock, cfg):
    b = ChainBuilder(genesis16)
    x1 = b.build(b.genesis_root, 1)
    y2 = b.build(b.genesis_root, 2)
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    _import(chain, b, [x1, y2])
    # Epoch 0: every validator votes for x1.
    for att in make_epoch_attestations(b.states[x1], x1, 0):
        assert chain.import_attestation(att).status is Status.IMPORTED
    assert _agree(chain) == x1
    # Epoch 1: a later target epoch replaces the latest messages: the head moves to y2.
    heads = []
    chain.events.subscribe("head", heads.append)
    before = chain.reorgs.count  # the zero-weight tie between x1 and y2 may have moved the head already
    for att in make_epoch_attestations(b.states[y2], y2, 1):
        assert chain.import_attestation(att).status is Status.IMPORTED
    assert _agree(chain) == y2
    assert heads and heads[-1].root == y2 and heads[-1].reorg_depth == 1
    # x1 (slot 1) to y2: the common ancestor is genesis (slot 0), so 1 slot deep.
    assert heads[-1].reorg_slots == 1
    assert (chain.reorgs.count - before, chain.reorgs.last_depth, chain.reorgs.last_slot) == (1, 1, 2)
    # An older-epoch vote does not move it back.
    for att in make_epoch_attestations(b.states[x1], x1, 0):
        chain.import_attestation(att)
    assert _agree(chain) == y2
    # 12 of 16 validators move back in epoch 2: weights split, the larger weight wins.
    movers = list(range(12))
    for att in make_epoch_attestations(b.states[x1], x1, 2, participants=movers):
        chain.import_attestation(att)
    assert _agree(chain) == x1
    assert chain.store.proto.weight(x1) > chain.store.proto.weight(y2)
    # Back from y2 (slot 2) to x1: 2 slots above genesis.
    assert (chain.reorgs.count - before, chain.reorgs.last_depth, chain.reorgs.max_depth) == (2, 2, 2)
    chain.close()


def test_justification_changes_the_head(tmp_path, genesis16, clock, cfg):
    spe = cfg.SLOTS_PER_EPOCH
    b = ChainBuilder(genesis16)
    x1 = b.build(b.genesis_root, 1, graffiti=b"x")
    y = b.extend(b.genesis_root, 1, 3 * spe + 1)  # full participation: justifies epoch 2 at slot 24
    ys = {b.blocks[r].slot: r for r in y}
    assert b.states[ys[3 * spe]].current_justified_checkpoint.epoch >= 2
    assert b.states[ys[3 * spe - 1]].current_justified_checkpoint.epoch == 0
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    _import(chain, b, [x1])
    # All validators vote for x1 with target epoch 2 before Y's blocks arrive.
    for att in make_epoch_attestations(b.states[x1], x1, 2):
        assert chain.import_attestation(att).status is Status.IMPORTED
    _import(chain, b, [ys[s] for s in range(1, 3 * spe)])
    assert chain.head.root == x1  # the latest messages all point at x1
    justified = []
    chain.events.subscribe("justified", justified.append)
    _import(chain, b, [ys[3 * spe]])
    # Y's state justified a checkpoint on Y: get_head now starts there, whatever the votes say.
    assert chain.justified_checkpoint.epoch >= 2 and justified
    assert chain.head.root == ys[3 * spe]
    chain.close()


def test_late_and_out_of_order_blocks(tmp_path, genesis16, clock, cfg):
    b = ChainBuilder(genesis16)
    r = b.extend(b.genesis_root, 1, 8)
    clock.to_slot(genesis16.genesis_time, 4, cfg.SECONDS_PER_SLOT)
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    # Out of order: children before their parent are held, then imported when it arrives.
    assert chain.import_block(b.blocks[r[2]]).status is Status.HELD
    assert chain.import_block(b.blocks[r[1]]).status is Status.HELD
    assert chain.missing_parents() == [r[0]]
    res = chain.import_block(b.blocks[r[0]])
    assert res.status is Status.IMPORTED and res.imported == r[:3]
    assert chain.head.root == r[2]
    # From the future: slot 5 at time of slot 4 is held; the tick at slot 5 imports it.
    assert chain.import_block(b.blocks[r[3]]).status is Status.IMPORTED  # slot 4: now
    late = chain.import_block(b.blocks[r[4]])
    assert late.status is Status.HELD and "future" in late.reason
    clock.to_slot(genesis16.genesis_time, 5, cfg.SECONDS_PER_SLOT)
    out = chain.on_tick(clock())
    assert [x.status for x in out] == [Status.IMPORTED] and chain.head.root == r[4]
    # An attestation for a block we do not have is held, then counted when the block arrives.
    clock.to_slot(genesis16.genesis_time, 20, cfg.SECONDS_PER_SLOT)
    atts = make_attestations(b.states[r[5]], r[5], 6)
    assert all(chain.import_attestation(a).status is Status.HELD for a in atts)
    assert chain.import_block(b.blocks[r[5]]).status is Status.IMPORTED
    voters = {i for i, m in chain.store.latest_messages.items() if m.root == r[5]}
    assert voters  # the held attestations were applied
    _agree(chain)
    chain.close()


def test_invalid_and_finality_conflicting_blocks(tmp_path, genesis16, clock, cfg):
    b = ChainBuilder(genesis16)
    main = b.extend(b.genesis_root, 1, 5 * cfg.SLOTS_PER_EPOCH)
    side = b.build(b.genesis_root, 2, graffiti=b"side")
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    bad = b.blocks[main[0]].copy()
    bad.signature = b.blocks[side].signature  # a valid point, the wrong signer/message
    res = chain.import_block(bad)
    assert res.status is Status.INVALID and "signature" in res.reason.lower()
    assert chain.import_block(bad).status is Status.INVALID  # remembered, not re-run
    _import(chain, b, main)
    assert chain.finalized_checkpoint.epoch >= 2
    res = chain.import_block(b.blocks[side])
    assert res.status is Status.IGNORED and "finalized" in res.reason
    assert chain.import_block(b.blocks[main[3]]).status is Status.KNOWN
    chain.close()


def test_held_attestation_is_verified_once(tmp_path, genesis16, clock, cfg):
    # An attestation of the current slot is held until the slot is over. One that was held while
    # BLS was off (gossip checked it just before) is not checked again when the tick retries it;
    # one held with BLS on is, so a bad signature arriving any other way is still refused.
    from beacon.crypto import bls
    from beacon.chain.testing import committees_at_slot

    b = ChainBuilder(genesis16)
    r = b.extend(b.genesis_root, 1, 4)  # slots 1, 2, 3
    clock.to_slot(genesis16.genesis_time, 3, cfg.SECONDS_PER_SLOT)
    chain = Chain.open(tmp_path, genesis16, clock=clock)
    _import(chain, b, r)
    (_, committee), = committees_at_slot(b.states[r[2]], 3)
    first, second = committee[0], committee[1]
    (att_a,) = make_attestations(b.states[r[2]], r[2], 3, participants=[first])
    (att_b,) = make_attestations(b.states[r[2]], r[2], 3, participants=[second])
    forged_a = att_a.copy()
    forged_a.signature = att_b.signature  # a valid point, but another validator's signature
    with bls.enabled(False):
        assert chain.import_attestation(forged_a).status is Status.HELD  # the caller's word: checked
    forged_b = att_b.copy()
    forged_b.signature = att_a.signature
    assert chain.import_attestation(forged_b).status is Status.HELD  # BLS on: checked on the retry
    clock.to_slot(genesis16.genesis_time, 4, cfg.SECONDS_PER_SLOT)
    chain.on_tick(clock())
    voters = {i for i, m in chain.store.latest_messages.items() if m.root == r[2]}
    assert first in voters and second not in voters
    assert not chain._pending_atts and not chain._pending_verified
    chain.close()
