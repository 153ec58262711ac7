"""Voluntary exits in chain/: the API's judgement (specific reasons), the gossip rule (judged with
process_voluntary_exit before forwarding), and inclusion from the operation pool, on a real Chain
with a LevelDB datadir and real signatures."""
from __future__ import annotations

import pytest

from beacon.chain import Chain
from beacon.chain.exits import exit_state, voluntary_exit_problem
from beacon.chain.gossip import GossipValidator, Verdict
from beacon.config import load_config
from beacon.state.slots import process_slots
from beacon.validator.exits import sign_voluntary_exit
from beacon.validator.pools import OperationPool
from beacon.validator.producer import produce_block
from genesis.keys import interop_privkey

FAR = 2**64 - 1


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import os

    os.environ.setdefault("PYBEACON_CACHE_DIR", str(tmp_path_factory.mktemp("keycache")))
    from genesis.state import create_interop_genesis_state

    cfg = load_config("minimal", {"PERSISTENT_COMMITTEE_PERIOD": "1", "MAX_VOLUNTARY_EXITS": "2"})
    genesis = create_interop_genesis_state(cfg, 16, 1567777777)
    chain = Chain.open(tmp_path_factory.mktemp("chain"), genesis, clock=lambda: 1567777777 + 20 * 6)
    yield cfg, genesis, chain
    chain.close()


def signed(cfg, genesis, epoch: int, index: int, key_of: int | None = None):
    return sign_voluntary_exit(genesis.types, cfg, bytes(genesis.fork.current_version), epoch, index,
                               interop_privkey(index if key_of is None else key_of))


def test_api_reasons(setup):
    cfg, genesis, chain = setup
    at_genesis = exit_state(chain, None)
    assert "too early: validator 3 may exit from epoch 1 on" in voluntary_exit_problem(at_genesis, signed(cfg, genesis, 0, 3))
    state = exit_state(chain, 9)  # the head (genesis) advanced through empty slots into epoch 1
    assert int(state.slot) == 9 and chain.head.slot == 0
    assert voluntary_exit_problem(state, signed(cfg, genesis, 1, 3)) is None
    assert voluntary_exit_problem(state, signed(cfg, genesis, 1, 16)).startswith("unknown validator 16: the state has 16")
    assert "exit epoch 2 is in the future (now epoch 1)" in voluntary_exit_problem(state, signed(cfg, genesis, 2, 3))
    assert voluntary_exit_problem(state, signed(cfg, genesis, 1, 3, key_of=4)).startswith("invalid signature")
    exiting = state.copy()
    exiting.validators[5].exit_epoch = 6
    assert "validator 5 is already exiting (exit epoch 6, now epoch 1)" in voluntary_exit_problem(exiting, signed(cfg, genesis, 1, 5))
    exiting.validators[5].exit_epoch = 1
    assert "validator 5 has already exited (exit epoch 1" in voluntary_exit_problem(exiting, signed(cfg, genesis, 1, 5))
    assert int(state.validators[3].exit_epoch) == FAR  # judged on copies


def test_gossip_rule_and_inclusion(setup):
    cfg, genesis, chain = setup
    seen = []
    gv = GossipValidator(chain, clock=lambda: 1567777777 + 20 * 6)
    gv.on_operation.append(lambda kind, op: seen.append((kind, int(op.validator_index))))
    assert gv.validate_operation("voluntary_exit", b"\x01\x02") is Verdict.REJECT  # does not decode
    # The head state is genesis (epoch 0): too early with PERSISTENT_COMMITTEE_PERIOD 1.
    assert gv.validate_operation("voluntary_exit", signed(cfg, genesis, 0, 3).serialize()) is Verdict.REJECT
    # Move the chain into epoch 1 with a real block, then: a wrong key REJECT, the right one ACCEPT, a repeat IGNORE.
    state = genesis.copy()
    process_slots(state, 9)
    block, _post = produce_block(state, chain.genesis_root, 9, interop_privkey(_proposer(state)),
                                 eth1_data=state.eth1_data.copy())
    from beacon.validator.producer import sign_block

    sign_block(state, block, interop_privkey(_proposer(state)))
    assert chain.import_block(block).ok
    chain.update_head()
    assert chain.head.slot == 9
    assert gv.validate_operation("voluntary_exit", signed(cfg, genesis, 1, 3, key_of=2).serialize()) is Verdict.REJECT
    ok = signed(cfg, genesis, 1, 3).serialize()
    assert gv.validate_operation("voluntary_exit", ok) is Verdict.ACCEPT
    assert gv.validate_operation("voluntary_exit", ok) is Verdict.IGNORE
    assert seen == [("voluntary_exit", 3)]
    # Inclusion: the pool offers at most MAX_VOLUNTARY_EXITS (2 here) valid exits per block.
    pool = OperationPool()
    for i in (3, 4, 6):
        assert pool.add_exit(signed(cfg, genesis, 1, i))
    assert not pool.add_exit(signed(cfg, genesis, 1, 3))
    pre = chain.head_state()
    process_slots(pre, 10)
    _ps, _as, exits = pool.for_block(pre)
    assert [int(e.validator_index) for e in exits] == [3, 4]
    proposer = _proposer(pre)
    block, post = produce_block(pre, chain.head.root, 10, interop_privkey(proposer), eth1_data=pre.eth1_data.copy(),
                                voluntary_exits=exits)
    assert [int(post.validators[i].exit_epoch) for i in (3, 4, 6)] == [1 + 1 + cfg.ACTIVATION_EXIT_DELAY] * 2 + [FAR]
    sign_block(pre, block, interop_privkey(proposer))
    assert chain.import_block(block).ok
    pool.prune_included(block)
    assert sorted(pool.exits) == [6]


def _proposer(state) -> int:
    from beacon.state import get_beacon_proposer_index

    return int(get_beacon_proposer_index(state))
