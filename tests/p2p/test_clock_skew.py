"""Clock skew at the gossip boundary (issue 15, part 3), without a network.

A message from a peer whose clock runs `d` seconds ahead of ours arrives `d` seconds before its
slot starts by our clock. The verdicts come from the real ChainAdapter on a real chain (LevelDB
datadir, 16 interop validators, real signatures), its clock set to the arrival time:

- ahead by less than the disparity (0.5 s): attestations are ACCEPTed; the block is never
  REJECTed and is in the chain when its slot starts, so a skewed node keeps up and its peers
  keep up with it; an early block is imported and forwarded at once, judged at its slot's start;
- ahead by more: IGNOREd and nothing imported; never REJECTed, and only REJECT is held
  against the forwarding peer (beacon/p2p/gossip.py), so skew never gets a peer penalised;
- behind (late messages), by up to several slots: ACCEPTed.
"""
from __future__ import annotations

import pytest

from beacon.chain import Chain
from beacon.chain.testing import ChainBuilder, make_attestations
from beacon.config import load_config
from beacon.p2p.chain_view import GOSSIP_CLOCK_DISPARITY, ChainAdapter
from beacon.p2p.constants import TOPIC_BEACON_ATTESTATION, TOPIC_BEACON_BLOCK
from beacon.p2p.interface import GossipVerdict

GENESIS_TIME = 1567777777


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import os

    os.environ.setdefault("PYBEACON_CACHE_DIR", str(tmp_path_factory.mktemp("keys")))
    from genesis.state import create_interop_genesis_state

    genesis = create_interop_genesis_state(load_config("minimal"), 16, GENESIS_TIME)
    b = ChainBuilder(genesis)
    roots = b.extend(b.genesis_root, 1, 4)  # slots 1, 2, 3
    return genesis, b, roots


def _adapter(tmp_path, built, arrival: list[float]) -> tuple[ChainAdapter, float]:
    genesis, b, roots = built
    sps = genesis.config.SECONDS_PER_SLOT
    arrival[0] = GENESIS_TIME + 2 * sps + 1  # during slot 2: its parent chain is in place
    chain = Chain.open(tmp_path / "datadir", genesis, clock=lambda: arrival[0])
    for r in roots[:-1]:
        assert chain.import_block(b.blocks[r]).ok
    return ChainAdapter(chain, clock=lambda: arrival[0]), GENESIS_TIME + 3 * sps  # slot 3 starts


def _verdict(adapter: ChainAdapter, topic: str, data: bytes) -> GossipVerdict:
    import trio

    return trio.run(adapter.validate_gossip, topic, data)


@pytest.mark.parametrize("ahead", [0.0, 0.2, GOSSIP_CLOCK_DISPARITY - 0.05])
def test_skew_within_disparity_keeps_up(tmp_path, built, ahead):
    genesis, b, roots = built
    sps = genesis.config.SECONDS_PER_SLOT
    arrival = [0.0]
    adapter, slot3 = _adapter(tmp_path, built, arrival)
    block = b.blocks[roots[-1]]
    arrival[0] = slot3 - ahead
    # Early by less than the disparity: imported and forwarded now.
    assert _verdict(adapter, TOPIC_BEACON_BLOCK, block.serialize()) is GossipVerdict.ACCEPT
    arrival[0] = slot3
    adapter.chain.on_tick(slot3)
    assert adapter.chain.has_block(roots[-1]) and adapter.chain.head.root == roots[-1]
    # Votes of slot 4 for that block from the same skewed peer, early by `ahead`.
    atts = make_attestations(b.states[roots[-1]], roots[-1], 4)
    assert atts
    arrival[0] = slot3 + sps - ahead
    for att in atts:
        assert _verdict(adapter, TOPIC_BEACON_ATTESTATION, att.serialize()) is GossipVerdict.ACCEPT
    adapter.chain.close()


def test_early_block_within_disparity_is_forwarded(tmp_path, built):
    genesis, b, roots = built
    arrival = [0.0]
    adapter, slot3 = _adapter(tmp_path, built, arrival)
    arrival[0] = slot3 - GOSSIP_CLOCK_DISPARITY / 2
    try:
        assert _verdict(adapter, TOPIC_BEACON_BLOCK, b.blocks[roots[-1]].serialize()) is GossipVerdict.ACCEPT
    finally:
        adapter.chain.close()


@pytest.mark.parametrize("ahead", [GOSSIP_CLOCK_DISPARITY + 0.05, 2.0, 30.0])
def test_skew_beyond_disparity_is_ignored_never_rejected(tmp_path, built, ahead):
    genesis, b, roots = built
    arrival = [0.0]
    adapter, slot3 = _adapter(tmp_path, built, arrival)
    block = b.blocks[roots[-1]]
    atts = make_attestations(b.states[roots[-1]], roots[-1], 3)
    arrival[0] = slot3 - ahead
    assert _verdict(adapter, TOPIC_BEACON_BLOCK, block.serialize()) is GossipVerdict.IGNORE
    assert not adapter.chain.has_block(roots[-1])
    # Once our clock reaches the slot, the same block is good (the peer is not blamed for it).
    arrival[0] = slot3
    assert _verdict(adapter, TOPIC_BEACON_BLOCK, block.serialize()) is GossipVerdict.ACCEPT
    # Attestations of slot 3 that arrive early, after the block.
    arrival[0] = slot3 - ahead
    for att in atts:
        assert _verdict(adapter, TOPIC_BEACON_ATTESTATION, att.serialize()) is GossipVerdict.IGNORE
    adapter.chain.close()


@pytest.mark.parametrize("behind", [GOSSIP_CLOCK_DISPARITY + 0.05, 6.0, 20.0])
def test_late_messages_are_accepted(tmp_path, built, behind):
    genesis, b, roots = built
    arrival = [0.0]
    adapter, slot3 = _adapter(tmp_path, built, arrival)
    arrival[0] = slot3 + behind
    assert _verdict(adapter, TOPIC_BEACON_BLOCK, b.blocks[roots[-1]].serialize()) is GossipVerdict.ACCEPT
    for att in make_attestations(b.states[roots[-1]], roots[-1], 3):
        assert _verdict(adapter, TOPIC_BEACON_ATTESTATION, att.serialize()) is GossipVerdict.ACCEPT
    adapter.chain.close()
