"""Synthetic beacon states at the end of an epoch, for the epoch-processing tests and benchmarks.

Never used by the client itself. `build_epoch_state` makes an interop-like state (fake pubkeys,
no signatures: pending attestations are what process_attestation would have stored, so nothing
is ever verified) whose last slot is the end of `epoch`, with pending attestations for the
previous and current epoch built from the real committees. `full=True` gives every validator
one attestation per epoch with matching source/target/head and delay 1; otherwise `rng` mixes in
what the spec has to sort out: partial and overlapping aggregates, wrong targets and heads,
competing crosslinks, slashed, exited, pending and ejectable validators, stale finality.
"""
from __future__ import annotations

import random
from hashlib import sha256
from typing import Any

from beacon.config import Config
from beacon.state.accessors import (
    get_attestation_data_slot, get_block_root, get_committee_count, get_crosslink_committee,
    get_start_shard,
)
from beacon.types import get_types


def _h(*parts: Any) -> bytes:
    return sha256(repr(parts).encode()).digest()


def _validators(cfg: Config, t: Any, n: int, epoch: int, rng: random.Random | None) -> tuple[list[Any], list[int]]:
    far = cfg.FAR_FUTURE_EPOCH
    inc = cfg.EFFECTIVE_BALANCE_INCREMENT
    validators, balances = [], []
    for i in range(n):
        fields: dict[str, Any] = dict(
            pubkey=(b"\xaa" + i.to_bytes(8, "little")).ljust(48, b"\x00"),  # fake, unique
            withdrawal_credentials=_h("wc", i),
            effective_balance=cfg.MAX_EFFECTIVE_BALANCE,
            slashed=False, activation_eligibility_epoch=0, activation_epoch=0,
            exit_epoch=far, withdrawable_epoch=far,
        )
        balance = cfg.MAX_EFFECTIVE_BALANCE
        if rng is not None:
            roll = rng.random()
            eb = rng.choice([cfg.MAX_EFFECTIVE_BALANCE] * 4 + [rng.randint(1, 32) * inc])
            fields["effective_balance"] = eb
            balance = max(0, eb + rng.randint(-2 * inc, 2 * inc) + rng.choice([0, inc // 2, -inc // 2]))
            if roll < 0.06:  # slashed, still eligible, some due for the slashings penalty
                fields["slashed"] = True
                fields["exit_epoch"] = epoch + rng.randint(0, 3)
                fields["withdrawable_epoch"] = rng.choice([
                    epoch + cfg.EPOCHS_PER_SLASHINGS_VECTOR // 2, epoch + rng.randint(1, 5), max(0, epoch - 1)])
            elif roll < 0.10:  # exited or exiting
                fields["exit_epoch"] = max(0, epoch + rng.randint(-2, 6))
                fields["withdrawable_epoch"] = fields["exit_epoch"] + cfg.MIN_VALIDATOR_WITHDRAWABILITY_DELAY
            elif roll < 0.16:  # pending activation, in the queue or not yet eligible
                fields["activation_epoch"] = rng.choice([far, epoch + 1 + cfg.ACTIVATION_EXIT_DELAY])
                fields["activation_eligibility_epoch"] = rng.choice([far, max(0, epoch - 1), max(0, epoch - 2), 0])
                fields["effective_balance"] = rng.choice([cfg.MAX_EFFECTIVE_BALANCE, eb])
            elif roll < 0.20:  # below the ejection balance
                fields["effective_balance"] = rng.randint(1, cfg.EJECTION_BALANCE // inc) * inc
                balance = fields["effective_balance"]
        validators.append(t.Validator(**fields))
        balances.append(balance)
    return validators, balances


def build_epoch_state(cfg: Config, n: int, *, epoch: int = 4, full: bool = True, seed: int = 0) -> Any:
    """A state at the last slot of `epoch` with `n` validators and pending attestations."""
    t = get_types(cfg)
    rng = None if full else random.Random(seed)
    spe = cfg.SLOTS_PER_EPOCH
    state = t.BeaconState()
    state.slot = (epoch + 1) * spe - 1
    state.genesis_time = 1578009600
    state.fork = t.Fork(previous_version=b"\x00" * 4, current_version=b"\x00" * 4, epoch=0)
    validators, balances = _validators(cfg, t, n, epoch, rng)
    state.validators = validators
    state.balances = balances
    hist = cfg.SLOTS_PER_HISTORICAL_ROOT
    state.block_roots = [_h("block", seed, s) for s in range(hist)]
    state.state_roots = [_h("state", seed, s) for s in range(hist)]
    state.randao_mixes = [_h("mix", seed, e) for e in range(cfg.EPOCHS_PER_HISTORICAL_VECTOR)]
    state.start_shard = (seed * 3) % cfg.SHARD_COUNT
    state.current_crosslinks = [
        t.Crosslink(shard=s, parent_root=_h("pc", s), start_epoch=max(0, epoch - 2), end_epoch=max(0, epoch - 1),
                    data_root=b"\x00" * 32)
        for s in range(cfg.SHARD_COUNT)
    ]
    state.previous_crosslinks = state.current_crosslinks
    previous, current = max(0, epoch - 1), epoch
    cp = t.Checkpoint
    state.previous_justified_checkpoint = cp(epoch=max(0, epoch - 2), root=get_block_root(state, max(0, epoch - 2)))
    state.current_justified_checkpoint = cp(epoch=previous, root=get_block_root(state, previous))
    state.finalized_checkpoint = cp(epoch=max(0, epoch - 3), root=get_block_root(state, max(0, epoch - 3)))
    state.justification_bits = [True, True, False, False]
    if rng is not None:
        state.justification_bits = [rng.random() < 0.6 for _ in range(4)]
        if rng.random() < 0.4:  # a long time without finality: inactivity penalties
            state.finalized_checkpoint = cp(epoch=0, root=b"\x00" * 32)
        if rng.random() < 0.5:
            state.previous_justified_checkpoint = cp(epoch=max(0, epoch - 3), root=_h("pj"))
        state.slashings = [rng.choice([0, 0, rng.randint(1, 64) * cfg.EFFECTIVE_BALANCE_INCREMENT])
                           for _ in range(cfg.EPOCHS_PER_SLASHINGS_VECTOR)]
        state.eth1_data_votes = [t.Eth1Data(deposit_root=_h("d", i), deposit_count=i, block_hash=_h("b", i))
                                 for i in range(rng.randint(0, 3))]
    # At genesis the previous epoch is the current one, and its attestations are the current list.
    state.previous_epoch_attestations = _attestations(state, previous, rng) if epoch > 0 else []
    state.current_epoch_attestations = _attestations(state, current, rng)
    return state


def _attestations(state: Any, epoch: int, rng: random.Random | None) -> list[Any]:
    cfg, t = state.config, state.types
    out = []
    target = t.Checkpoint(epoch=epoch, root=get_block_root(state, epoch))
    source = state.current_justified_checkpoint if epoch == state.slot // cfg.SLOTS_PER_EPOCH \
        else state.previous_justified_checkpoint
    start = get_start_shard(state, epoch)
    for offset in range(get_committee_count(state, epoch)):
        shard = (start + offset) % cfg.SHARD_COUNT
        committee = get_crosslink_committee(state, epoch, shard)
        parent = state.current_crosslinks[shard]
        crosslink = t.Crosslink(shard=shard, parent_root=parent.hash_tree_root(), start_epoch=parent.end_epoch,
                                end_epoch=min(epoch, parent.end_epoch + cfg.MAX_EPOCHS_PER_CROSSLINK),
                                data_root=b"\x00" * 32)
        data = t.AttestationData(beacon_block_root=b"\x00" * 32, source=source, target=target, crosslink=crosslink)
        slot = get_attestation_data_slot(state, data)
        if slot + cfg.MIN_ATTESTATION_INCLUSION_DELAY > state.slot:
            continue  # could not have been included yet
        head = state.block_roots[slot % cfg.SLOTS_PER_HISTORICAL_ROOT]
        max_delay = min(state.slot - slot, cfg.SLOTS_PER_EPOCH)
        if rng is None:
            data.beacon_block_root = head
            out.append(t.PendingAttestation(aggregation_bits=[True] * len(committee), data=data,
                                            inclusion_delay=cfg.MIN_ATTESTATION_INCLUSION_DELAY,
                                            proposer_index=committee[0]))
            continue
        for _ in range(rng.choice([0, 1, 1, 2, 3])):  # none, one or overlapping aggregates
            d = data.copy()
            d.beacon_block_root = head if rng.random() < 0.8 else _h("other head", slot)
            if rng.random() < 0.15:
                d.target = t.Checkpoint(epoch=epoch, root=_h("wrong target"))
            if rng.random() < 0.3:  # a competing crosslink (same parent, other data)
                d.crosslink = t.Crosslink(shard=shard, parent_root=crosslink.parent_root,
                                          start_epoch=crosslink.start_epoch, end_epoch=crosslink.end_epoch,
                                          data_root=_h("data", rng.randint(0, 1)))
            elif rng.random() < 0.1:  # builds on a crosslink that is not the current one
                d.crosslink = t.Crosslink(shard=shard, parent_root=_h("stale"), start_epoch=crosslink.start_epoch,
                                          end_epoch=crosslink.end_epoch, data_root=b"\x00" * 32)
            bits = [rng.random() < 0.75 for _ in committee]
            out.append(t.PendingAttestation(
                aggregation_bits=bits, data=d,
                inclusion_delay=rng.randint(cfg.MIN_ATTESTATION_INCLUSION_DELAY, max(cfg.MIN_ATTESTATION_INCLUSION_DELAY, max_delay)),
                proposer_index=rng.randrange(len(state.validators))))
    if rng is not None:
        rng.shuffle(out)
    return out
