"""ProtoArray against a from-scratch LMD-GHOST (the spec's get_head loop) on random block trees."""
from __future__ import annotations

import random

import pytest

from beacon.chain.proto_array import ProtoArray, ProtoArrayError


def naive_head(blocks: dict, votes: dict, balances: list, justified: bytes, justified_slot: int) -> bytes:
    # The spec's get_head + get_latest_attesting_balance + get_ancestor over plain dicts.
    def ancestor(root, slot):
        while blocks[root][0] > slot:
            root = blocks[root][1]
        return root if blocks[root][0] == slot else None

    def weight(root):
        slot = blocks[root][0]
        return sum(balances[v] for v, r in votes.items() if r in blocks and v < len(balances)
                   and ancestor(r, slot) == root)

    head = justified
    while True:
        children = [r for r, (s, p) in blocks.items() if p == head and s > justified_slot]
        if not children:
            return head
        head = max(children, key=lambda r: (weight(r), r))


def _root(rng: random.Random) -> bytes:
    return rng.getrandbits(256).to_bytes(32, "big")


@pytest.mark.parametrize("seed", range(12))
def test_random_trees_votes_and_balances(seed):
    rng = random.Random(seed)
    genesis = _root(rng)
    blocks = {genesis: (0, None)}
    order = [genesis]
    pa = ProtoArray(genesis, 0)
    votes: dict[int, bytes] = {}
    n_validators = 40
    balances = [rng.choice([0, 16, 31, 32]) * 10**9 for _ in range(n_validators)]
    justified, justified_slot = genesis, 0
    for step in range(150):
        action = rng.random()
        if action < 0.45:
            parent = rng.choice(order[-12:])  # forks near the tip, sometimes deeper
            slot = blocks[parent][0] + rng.randint(1, 3)
            r = _root(rng)
            blocks[r] = (slot, parent)
            order.append(r)
            pa.add_block(r, slot, parent)
        elif action < 0.85:
            v = rng.randrange(n_validators)
            # Sometimes vote for a block that is not known yet (it must count once it arrives).
            target = _root(rng) if rng.random() < 0.05 else rng.choice(order)
            votes[v] = target
            pa.process_vote(v, target)
        elif action < 0.92:
            balances = [rng.choice([0, 16, 31, 32]) * 10**9 for _ in range(n_validators)]
        else:
            # Move the justified block to some block (with its slot rounded as an epoch start).
            justified = rng.choice(order)
            justified_slot = blocks[justified][0] + rng.choice([0, 0, 1, 2])
        pa.apply_changes(balances)
        want = naive_head(blocks, votes, balances, justified, justified_slot)
        assert pa.find_head(justified, justified_slot) == want, f"step {step}"


def test_ties_break_by_larger_root_and_votes_move():
    g = b"\x00" * 32
    a, b = b"\x0a" * 32, b"\x0b" * 32
    pa = ProtoArray(g, 0)
    pa.add_block(a, 1, g)
    pa.add_block(b, 1, g)
    pa.apply_changes([32, 32])
    assert pa.find_head(g, 0) == b  # no votes: larger root
    pa.process_vote(0, a)
    pa.apply_changes()
    assert pa.find_head(g, 0) == a
    pa.process_vote(1, b)
    pa.process_vote(0, b)
    pa.apply_changes()
    assert pa.find_head(g, 0) == b and pa.weight(b) == 64 and pa.weight(a) == 0


def test_prune_keeps_weights_of_finalized_subtree():
    rng = random.Random(7)
    g = _root(rng)
    pa = ProtoArray(g, 0)
    chain = [g]
    for s in range(1, 20):
        r = _root(rng)
        pa.add_block(r, s, chain[-1])
        chain.append(r)
    side = _root(rng)
    pa.add_block(side, 3, chain[1])  # a fork that finality will cut off
    pa.process_vote(0, chain[15])
    pa.process_vote(1, side)
    pa.process_vote(2, chain[5])
    pa.apply_changes([10, 20, 30])
    removed = pa.prune(chain[8])
    assert set(removed) == set(chain[:8]) | {side}
    assert len(pa) == 12
    assert pa.weight(chain[8]) == 10 and pa.find_head(chain[8], 8) == chain[-1]
    # Votes still move correctly after the index remapping.
    pa.process_vote(0, chain[9])
    pa.process_vote(2, chain[19])
    pa.apply_changes()
    assert pa.weight(chain[9]) == 40 and pa.weight(chain[10]) == 30
    with pytest.raises(ProtoArrayError):
        pa.add_block(_root(rng), 30, side)
