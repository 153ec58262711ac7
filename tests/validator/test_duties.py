"""Validator duties on real states, keys, BLS and a real Chain on a LevelDB datadir.

The duty service is driven slot by slot on an injected clock (no sleeping): its blocks go
through the chain's full import (signatures, state root), its attestations through fork
choice, and the chain must finalize.
"""
from __future__ import annotations

import pytest
import trio

from beacon.chain import Chain
from beacon.config import load_config
from beacon.crypto import bls
from beacon.node import NullP2P
from beacon.state import get_domain, get_indexed_attestation, is_valid_indexed_attestation
from beacon.state.slots import process_slots
from beacon.validator.duties import epoch_attester_duties, get_committee_assignment
from beacon.validator.keys import load_interop_keys
from beacon.validator.pools import AttestationPool, OperationPool
from beacon.validator.producer import (
    InteropEth1, get_attestation_data, get_eth1_vote, get_signed_attestation_data, is_includable, make_attestation,
    select_attestations,
)
from beacon.validator.protection import SlashingProtection
from beacon.validator.service import ValidatorService
from genesis.state import create_interop_genesis_state


@pytest.fixture(scope="module")
def cfg():
    return load_config("minimal")


@pytest.fixture(scope="module")
def genesis64(cfg, tmp_path_factory):
    return create_interop_genesis_state(cfg, 64, 1_000_000)


def test_epoch_duties_match_spec_get_committee_assignment(genesis64, cfg):
    state = genesis64.copy()
    process_slots(state, 3 * cfg.SLOTS_PER_EPOCH + 2)  # a few epoch transitions in
    ours = list(range(0, 64, 3))
    for epoch in (3, 4):  # current and next
        duties = epoch_attester_duties(state, epoch, ours)
        flat = {v: (list(d.committee), d.shard, d.slot) for ds in duties.values() for d in ds for v in d.validators}
        for v in ours:
            committee, shard, slot = get_committee_assignment(state, epoch, v)
            assert flat[v] == (list(committee), shard, slot)


def test_eth1_vote_repeats_genesis_eth1_data(genesis64):
    state = genesis64.copy()
    eth1 = InteropEth1(genesis64.eth1_data)
    assert get_eth1_vote(state, 2048, eth1) == genesis64.eth1_data
    state.eth1_data_votes = [genesis64.eth1_data.copy() for _ in range(5)]
    assert get_eth1_vote(state, 2048, eth1) == genesis64.eth1_data


def test_local_aggregation_of_identical_data(genesis64, cfg):
    state = genesis64.copy()
    process_slots(state, 2)
    keys = {k.index: k.privkey for k in load_interop_keys(range(64), genesis64)}
    duty = epoch_attester_duties(state, 0, range(64))[2][0]
    head_root = bytes(state.block_roots[1])
    data = get_attestation_data(state, head_root, duty.shard)
    half = len(duty.committee) // 2
    first = make_attestation(state, data, duty.committee, {v: keys[v] for v in duty.committee[:half]})
    second = make_attestation(state, data, duty.committee, {v: keys[v] for v in duty.committee[half:]})
    pool = AttestationPool()
    assert pool.add(first, verified=True) and pool.add(second, verified=True)
    assert not pool.add(first, verified=True)  # a subset of what is held: nothing new
    (merged, verified), = pool.candidates(0)
    assert all(merged.aggregation_bits) and verified
    # The merged signature is a real aggregate of every member's signature.
    assert is_valid_indexed_attestation(state, get_indexed_attestation(state, merged))
    # One tampered bit and the aggregate no longer verifies.
    bad = merged.copy()
    bad.aggregation_bits = [False] + list(merged.aggregation_bits)[1:]
    assert not is_valid_indexed_attestation(state, get_indexed_attestation(state, bad))


def test_summed_key_signature_is_the_aggregate_of_each_signers(genesis64, cfg):
    # make_attestation signs once with the committee members' summed key; that must be the very
    # aggregate of every member's own signature (the spec's construction), byte for byte.
    state = genesis64.copy()
    process_slots(state, 2)
    keys = {k.index: k.privkey for k in load_interop_keys(range(64), genesis64)}
    duty = epoch_attester_duties(state, 0, range(64))[2][0]
    data = get_attestation_data(state, bytes(state.block_roots[1]), duty.shard)
    signers = {v: keys[v] for v in duty.committee[1:]}
    att = make_attestation(state, data, duty.committee, signers)
    each = [get_signed_attestation_data(state, att, sk) for sk in signers.values()]
    assert att.signature == bls.aggregate_signatures(each)
    assert list(att.aggregation_bits) == [False] + [True] * (len(duty.committee) - 1)
    assert is_valid_indexed_attestation(state, get_indexed_attestation(state, att))


def test_block_selection_respects_inclusion_window(genesis64, cfg):
    state = genesis64.copy()
    process_slots(state, 3)
    keys = {k.index: k.privkey for k in load_interop_keys(range(64), genesis64)}
    duty = epoch_attester_duties(state, 0, range(64))[3][0]
    att = make_attestation(state, get_attestation_data(state, bytes(state.block_roots[2]), duty.shard),
                           duty.committee, {v: keys[v] for v in duty.committee})
    at_3 = state.copy()
    assert select_attestations(at_3, [(att, True)]) == []  # MIN_ATTESTATION_INCLUSION_DELAY: not yet
    at_4 = state.copy()
    process_slots(at_4, 4)
    assert len(select_attestations(at_4, [(att, True)])) == 1
    # Made on another branch (a healed partition): checked against that branch's committees by
    # gossip, so "verified", but its target is not this chain's block and it must stay out.
    other = att.copy()
    other.data.target.root = b"\x11" * 32
    assert is_includable(at_4, other) == "target is not this chain's epoch boundary block (another branch)"
    assert select_attestations(at_4, [(other, True)]) == []
    late = state.copy()
    process_slots(late, 3 + cfg.SLOTS_PER_EPOCH + 1)
    assert select_attestations(late, [(att, True)]) == []  # past the inclusion window


def run_slots(svc: ValidatorService, chain: Chain, now: list, genesis_time: int, sps: int, slots: range) -> None:
    async def main() -> None:
        for slot in slots:
            now[0] = genesis_time + slot * sps
            chain.on_tick(now[0])
            chain.update_head()
            await svc.propose(slot)
            now[0] += sps / 3
            await svc.attest(slot, deadline=genesis_time + (slot + 1) * sps)

    trio.run(main)


def test_duty_service_finalizes_and_includes_pooled_slashing(tmp_path, cfg):
    genesis = create_interop_genesis_state(cfg, 16, 1_000_000)
    gt, sps = int(genesis.genesis_time), cfg.SECONDS_PER_SLOT
    now = [float(gt)]
    chain = Chain.open(tmp_path / "dd", genesis, clock=lambda: now[0])
    protection = SlashingProtection(tmp_path / "dd", chain.genesis_root)
    keys = load_interop_keys(range(16), genesis)
    ops = OperationPool()
    svc = ValidatorService(chain, keys, protection, AttestationPool(), ops, NullP2P("test", chain),
                           genesis.eth1_data, now=lambda: now[0], slot_start=lambda s: gt + s * sps)
    try:
        # A proposer slashing waiting in the pool: two different headers of validator 5 at one slot.
        t = genesis.types
        sk5 = keys[5].privkey
        domain = get_domain(genesis, cfg.DOMAIN_BEACON_PROPOSER, 0)
        h1 = t.BeaconBlockHeader(slot=1, state_root=b"\x01" * 32)
        h2 = t.BeaconBlockHeader(slot=1, state_root=b"\x02" * 32)
        h1.signature = bls.sign(h1.signing_root(), sk5, domain)
        h2.signature = bls.sign(h2.signing_root(), sk5, domain)
        ops.add_proposer_slashing(t.ProposerSlashing(proposer_index=5, header_1=h1, header_2=h2))

        run_slots(svc, chain, now, gt, sps, range(0, 5 * cfg.SLOTS_PER_EPOCH))
        assert int(chain.finalized_checkpoint.epoch) >= 2
        assert chain.head.slot == 5 * cfg.SLOTS_PER_EPOCH - 1
        head_state = chain.state_at_block(chain.head.root)
        assert head_state.validators[5].slashed  # the pooled slashing made it into a block
        assert not ops.proposer_slashings  # and left the pool once included
        assert svc.totals.get("proposal", "missed") == 0 and svc.totals.get("attestation", "missed") == 0
        # Every active validator attested once per epoch (the slashed one from its slashing on:
        # its duties still come, as it stays in committees until it exits).
        assert svc.totals.get("attestation", "done") + svc.totals.get("attestation", "declined") == 16 * 5
        proposals = sum(svc.totals.get("proposal", o) for o in ("done", "declined", "impossible"))
        assert proposals == 5 * cfg.SLOTS_PER_EPOCH - 1  # every slot but the genesis slot
        # v0.8.2: a second block of one proposer in one epoch is declined, never signed.
        for v in range(16):
            last = protection.last_proposal(v)
            assert last is None or last.epoch < 5
    finally:
        protection.close()
        chain.close()


def test_restarted_service_declines_what_would_be_slashable(tmp_path, cfg):
    """Slashing protection across a restart with the chain database lost: the new chain starts
    from genesis again, so its votes would double/surround the old ones and its blocks would be
    second blocks in old epochs. They are declined; nothing slashable is ever signed."""
    genesis = create_interop_genesis_state(cfg, 16, 1_000_000)
    gt, sps = int(genesis.genesis_time), cfg.SECONDS_PER_SLOT
    keys = load_interop_keys(range(16), genesis)
    now = [float(gt)]

    def service(datadir):
        chain = Chain.open(datadir, genesis, clock=lambda: now[0])
        protection = SlashingProtection(datadir, chain.genesis_root)
        svc = ValidatorService(chain, keys, protection, AttestationPool(), OperationPool(), NullP2P("test", chain),
                               genesis.eth1_data, now=lambda: now[0], slot_start=lambda s: gt + s * sps)
        return chain, protection, svc

    chain, protection, svc = service(tmp_path / "dd")
    run_slots(svc, chain, now, gt, sps, range(0, 4 * cfg.SLOTS_PER_EPOCH + 3))
    signed_before = {v: [(r.source, r.target) for r in protection.attestations_of(v)] for v in range(16)}
    protection.close()
    chain.close()
    import shutil

    shutil.rmtree(tmp_path / "dd" / "beacon.ldb")  # the chain is gone; slashing protection is not
    chain, protection, svc = service(tmp_path / "dd")
    try:
        run_slots(svc, chain, now, gt, sps, range(4 * cfg.SLOTS_PER_EPOCH + 3, 5 * cfg.SLOTS_PER_EPOCH))
        assert svc.totals.get("attestation", "declined") > 0
        for v in range(16):
            history = protection.attestations_of(v)
            assert [(r.source, r.target) for r in history][:len(signed_before[v])] == signed_before[v]
            for i, a in enumerate(history):
                for b in history[i + 1:]:
                    assert a.target != b.target
                    assert not (a.source < b.source and b.target < a.target)
                    assert not (b.source < a.source and a.target < b.target)
    finally:
        protection.close()
        chain.close()
