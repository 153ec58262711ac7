"""Chaos equivocation orders in the duty service, on a real Chain and a real slashing-protection
LevelDB, driven slot by slot: each order signs exactly one slashable pair at the validator's next
duty of its kind; the chaos message is not recorded, so protection still refuses conflicts and
the validator's later honest duties go on; a slasher fed what was published builds slashings the
spec accepts. Without an order nothing slashable is signed (test_duties.py)."""
from __future__ import annotations

from typing import Any

import pytest

from beacon.chain import Chain
from beacon.chain.slasher import Slasher
from beacon.config import load_config
from beacon.node import NullP2P
from beacon.state import (
    get_beacon_proposer_index, get_indexed_attestation, process_attester_slashing, process_proposer_slashing,
)
from beacon.state.slots import process_slots
from beacon.validator.keys import load_interop_keys
from beacon.validator.pools import AttestationPool, OperationPool
from beacon.validator.protection import SlashingProtection
from beacon.validator.service import ValidatorService
from genesis.state import create_interop_genesis_state

from .test_duties import run_slots


class Recorder(NullP2P):
    """No network: what the service publishes is kept (and attestations reach fork choice)."""

    def __init__(self, chain: Any) -> None:
        super().__init__("test", chain)
        self.blocks: list[Any] = []
        self.attestations: list[Any] = []

    async def publish_block(self, block: Any) -> None:
        self.blocks.append(block)

    async def publish_attestation(self, attestation: Any) -> None:
        self.attestations.append(attestation)
        await super().publish_attestation(attestation)


def test_orders_sign_one_slashable_pair_each_and_leave_protection_intact(tmp_path):
    cfg = load_config("minimal")
    genesis = create_interop_genesis_state(cfg, 16, 1_000_000)
    gt, sps = int(genesis.genesis_time), cfg.SECONDS_PER_SLOT
    now = [float(gt)]
    chain = Chain.open(tmp_path / "dd", genesis, clock=lambda: now[0])
    protection = SlashingProtection(tmp_path / "dd", chain.genesis_root)
    out = Recorder(chain)
    svc = ValidatorService(chain, load_interop_keys(range(16), genesis), protection, AttestationPool(),
                           OperationPool(), out, genesis.eth1_data, now=lambda: now[0],
                           slot_start=lambda s: gt + s * sps)
    try:
        with pytest.raises(ValueError, match="one of proposal, double_vote, surround_vote"):
            svc.arm_equivocation(1, "triple_vote", 0)
        with pytest.raises(ValueError, match="not run by this node"):
            svc.arm_equivocation(16, "proposal", 0)
        orders = {kind: svc.arm_equivocation(v, kind, 0)
                  for v, kind in ((1, "proposal"), (2, "double_vote"), (3, "surround_vote"))}
        with pytest.raises(ValueError, match="already has an equivocation pending"):
            svc.arm_equivocation(2, "proposal", 0)
        run_slots(svc, chain, now, gt, sps, range(0, 6 * cfg.SLOTS_PER_EPOCH))
        assert all(o.slot is not None for o in orders.values()), [o.doc() for o in orders.values()]
        assert orders["surround_vote"].slot >= 2 * cfg.SLOTS_PER_EPOCH  # waited for a source epoch >= 1

        # What was published: two blocks at the proposal's slot by validator 1, and a slasher
        # fed with everything builds slashings that the spec's processing accepts.
        state = chain.head_state()
        slasher = Slasher(genesis.types, cfg)
        found = []
        for block in out.blocks:
            pre = chain.state_at_block(bytes(block.parent_root)).copy()
            process_slots(pre, block.slot)
            ps = slasher.on_block(block, int(get_beacon_proposer_index(pre)))
            found += [ps] if ps is not None else []
        for att in out.attestations:
            target = chain.state_at_block(bytes(att.data.target.root)).copy()
            start = int(att.data.target.epoch) * cfg.SLOTS_PER_EPOCH
            if target.slot < start:
                process_slots(target, start)
            found += slasher.on_indexed_attestation(get_indexed_attestation(target, att))
        kinds = sorted(type(f).__name__ for f in found)
        assert kinds == ["AttesterSlashing", "AttesterSlashing", "ProposerSlashing"], kinds
        scratch = state.copy()
        for f in found:
            if type(f).__name__ == "ProposerSlashing":
                assert int(f.proposer_index) == 1 and not scratch.validators[1].slashed
                process_proposer_slashing(scratch, f)
            else:
                process_attester_slashing(scratch, f)
        assert [i for i in range(16) if scratch.validators[i].slashed] == [1, 2, 3]

        # Protection holds only honest records: no conflicting pair in any history, a second
        # vote for a recorded target is still refused, and no duty after the orders was
        # refused (only validator 3's replaced vote counts as declined).
        for v in range(16):
            history = protection.attestations_of(v)
            for i, a in enumerate(history):
                for b in history[i + 1:]:
                    assert a.target != b.target
                    assert not (a.source < b.source and b.target < a.target)
                    assert not (b.source < a.source and a.target < b.target)
        last = protection.attestations_of(2)[-1]
        assert protection.check_attestation(2, last.source, last.target, b"\x99" * 32) is not None
        assert protection.attestations_of(2)[-1].target == 5  # validator 2 kept attesting after its order
        assert svc.totals.get("attestation", "declined") == 1
        assert svc.totals.get("attestation", "missed") == 0
    finally:
        protection.close()
        chain.close()
