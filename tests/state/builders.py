"""Valid signed blocks for tests and benchmarks of the state transition (never used by the client).

Attestations are built from the real committees and signed with the sum of the members'
private keys: everyone in an aggregate signs the same message, so
sum_i(sk_i) * H(m) == sum_i(sk_i * H(m)) is the aggregate signature, at the cost of one signing.
"""
from __future__ import annotations

from typing import Any, Sequence

from beacon.crypto import bls
from beacon.crypto._bls_common import CURVE_ORDER
from beacon.ssz import uint64
from beacon.state.accessors import (
    get_beacon_proposer_index, get_block_root, get_block_root_at_slot, get_committee_count,
    get_crosslink_committee, get_current_epoch, get_domain, get_previous_epoch, get_start_shard,
)
from beacon.state.misc import compute_epoch_of_slot
from beacon.state.slots import apply_block, process_slots


def make_attestations(state: Any, privkeys: Sequence[int], slots: Sequence[int], limit: int | None = None) -> list[Any]:
    """Full-participation attestations for every committee of ``slots``, valid for inclusion at state.slot."""
    cfg = state.config
    t = state.types
    out = []
    for slot in slots:
        epoch = compute_epoch_of_slot(slot, cfg=cfg)
        current = epoch == get_current_epoch(state)
        assert current or epoch == get_previous_epoch(state)
        per_slot = get_committee_count(state, epoch) // cfg.SLOTS_PER_EPOCH
        first = (get_start_shard(state, epoch) + per_slot * (slot % cfg.SLOTS_PER_EPOCH)) % cfg.SHARD_COUNT
        for k in range(per_slot):
            shard = (first + k) % cfg.SHARD_COUNT
            parent = (state.current_crosslinks if current else state.previous_crosslinks)[shard]
            data = t.AttestationData(
                beacon_block_root=get_block_root_at_slot(state, slot),
                source=state.current_justified_checkpoint if current else state.previous_justified_checkpoint,
                target=t.Checkpoint(epoch=epoch, root=get_block_root(state, epoch)),
                crosslink=t.Crosslink(
                    shard=shard, parent_root=parent.hash_tree_root(), start_epoch=parent.end_epoch,
                    end_epoch=min(epoch, parent.end_epoch + cfg.MAX_EPOCHS_PER_CROSSLINK),
                ),
            )
            committee = get_crosslink_committee(state, epoch, shard)
            message = t.AttestationDataAndCustodyBit(data=data, custody_bit=False).hash_tree_root()
            secret = sum(privkeys[i] for i in committee) % CURVE_ORDER
            out.append(t.Attestation(
                aggregation_bits=[True] * len(committee),
                data=data,
                custody_bits=[False] * len(committee),
                signature=bls.sign(message, secret, get_domain(state, cfg.DOMAIN_ATTESTATION, epoch)),
            ))
            if limit is not None and len(out) >= limit:
                return out
    return out


def make_block(state: Any, privkeys: Sequence[int], slot: int, attestation_slots: Sequence[int] = (),
               max_attestations: int | None = None) -> Any:
    """A fully signed block at ``slot`` on ``state`` (which is not modified), with its state root."""
    cfg = state.config
    t = state.types
    pre = state.copy()
    process_slots(pre, slot)
    proposer = get_beacon_proposer_index(pre)
    epoch = get_current_epoch(pre)
    block = t.BeaconBlock(slot=slot, parent_root=pre.latest_block_header.signing_root())
    block.body.randao_reveal = bls.sign(uint64.hash_tree_root(epoch), privkeys[proposer],
                                        get_domain(pre, cfg.DOMAIN_RANDAO))
    block.body.eth1_data = pre.eth1_data
    if attestation_slots:
        limit = cfg.MAX_ATTESTATIONS if max_attestations is None else max_attestations
        block.body.attestations = make_attestations(pre, privkeys, attestation_slots, limit)
    with bls.enabled(False):
        post = apply_block(state, block, validate_state_root=False)
    block.state_root = post.hash_tree_root()
    block.signature = bls.sign(block.signing_root(), privkeys[proposer], get_domain(pre, cfg.DOMAIN_BEACON_PROPOSER))
    return block


def attestation_window(slot: int, cfg: Any, count: int) -> list[int]:
    """The ``count`` most recent slots whose attestations may be included at ``slot``."""
    last = slot - cfg.MIN_ATTESTATION_INCLUSION_DELAY
    first = max(0, slot - cfg.SLOTS_PER_EPOCH, last - count + 1)
    return list(range(last, first - 1, -1))


def resign(state: Any, block: Any, privkeys: Sequence[int]) -> None:
    """Sign ``block`` again as its proposer (after a test changed its contents)."""
    pre = state.copy()
    process_slots(pre, block.slot)
    proposer = get_beacon_proposer_index(pre)
    block.signature = bls.sign(block.signing_root(), privkeys[proposer],
                               get_domain(pre, pre.config.DOMAIN_BEACON_PROPOSER))
