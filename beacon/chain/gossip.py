"""Gossip verification: the spec's rules for each gossip topic, asked by p2p.

p2p decodes nothing and imports no state function: it hands the payload of a topic to
`GossipValidator` and forwards, drops or scores by the verdict. The rules
(p2p-interface.md v0.8.3, "Topics"; docs/interop.md "Gossip validation"):

* beacon_block: REJECT what does not decode; IGNORE a block we have (seen), one whose slot
  starts more than the clock disparity after our clock (future), one at or before the
  finalized epoch's start slot (conflicts with finality), and one whose parent we lack (the
  chain holds it; sync looks the parent up). Everything else is imported in full through
  the chain, which checks the proposer signature (and every other rule); ACCEPT only if
  the import succeeds, REJECT if the state transition refuses it.
* beacon_attestation: REJECT what does not decode, does not match its committee, or whose
  aggregate signature fails (checked on the target checkpoint state, as fork choice does);
  IGNORE votes for blocks we do not have (the chain holds them; sync looks the block up),
  votes for blocks below finality and attestations whose slot has not started. ACCEPTed
  attestations go to fork choice.
* voluntary_exit / proposer_slashing / attester_slashing: `process_*` of the state
  transition on a copy of the head state (signatures checked on the spot); REJECT on any
  failure, IGNORE repeats, ACCEPT otherwise. Accepted operations are kept in a bounded pool
  and passed to `on_operation` callbacks (the node's operation pool).

Slashings found here: every imported block (the chain's "block" event: its proposer and its
attestations) and every gossip attestation whose signature verified goes to the `Slasher`
(beacon/chain/slasher.py). A
slashing it builds that `process_*` accepts on the head state joins the pool as above and is
handed to `on_slashing` callbacks as well (p2p gossips it).

Everything here runs synchronously on the caller's thread (the state transition is
CPU-bound Python).
"""
from __future__ import annotations

import enum
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from beacon.crypto import bls
from beacon.ssz import DecodeError, decode
from beacon.state import (
    StateTransitionError, compute_start_slot_of_epoch, get_attestation_data_slot, get_beacon_proposer_index_at_slot,
    get_indexed_attestation, is_valid_indexed_attestation, process_attester_slashing, process_proposer_slashing,
    process_voluntary_exit,
)
from beacon.state.slots import process_slots

from .service import Chain, Status
from .slasher import Slasher

log = logging.getLogger(__name__)

# How far ahead of our clock a gossiped block's slot may start and still be judged now.
# v0.8.3 has no number; later spec versions call it MAXIMUM_GOSSIP_CLOCK_DISPARITY = 500 ms.
GOSSIP_CLOCK_DISPARITY = 0.5
# Bounds on what the validator remembers.
MAX_OPERATIONS = 1024  # per kind
MAX_WANTED_ROOTS = 256
MAX_CHECKPOINT_STATES = 8

OPERATION_KINDS = ("voluntary_exit", "proposer_slashing", "attester_slashing")
OperationCallback = Callable[[str, Any], None]


class Verdict(enum.Enum):
    ACCEPT = "accept"  # valid: forward it
    REJECT = "reject"  # invalid: drop it and blame the sender
    IGNORE = "ignore"  # cannot or need not judge it now: drop it, blame nobody


@dataclass(frozen=True)
class BlockVerdict:
    verdict: Verdict
    # What became of the block: "undecodable", "seen", "future", "finalized" (at or below
    # finality), or the chain's import status: "imported", "invalid", "ignored", and for a
    # held block "unknown_parent" (sync should fetch ancestors) or "held" (waits for its slot).
    outcome: str
    slot: int | None = None
    root: bytes | None = None  # signing root
    reason: str = ""


class GossipValidator:
    """The gossip rules over one Chain. `clock` gives Unix time."""

    def __init__(self, chain: Chain, clock: Callable[[], float] = time.time,
                 clock_disparity: float = GOSSIP_CLOCK_DISPARITY) -> None:
        self.chain = chain
        self.clock = clock
        self.clock_disparity = clock_disparity
        self.config = chain.config
        self.types = chain.types
        # Roots voted for by gossip attestations we could not judge yet (the chain holds
        # the attestations; sync fetches the blocks).
        self._wanted: OrderedDict[bytes, None] = OrderedDict()
        self._checkpoint_states: OrderedDict[tuple[int, bytes], Any] = OrderedDict()
        self.operations: dict[str, OrderedDict[bytes, Any]] = {k: OrderedDict() for k in OPERATION_KINDS}
        self.on_operation: list[OperationCallback] = []
        self.slasher = Slasher(self.types, self.config)
        self.on_slashing: list[OperationCallback] = []  # slashings we built (to be gossiped)
        self.slashings_found: dict[str, int] = {"proposer_slashing": 0, "attester_slashing": 0}
        chain.events.subscribe("block", self._on_imported_block)

    def slot_start(self, slot: int) -> float:
        return self.chain.store.genesis_time + slot * self.config.SECONDS_PER_SLOT

    def finalized_slot(self) -> int:
        return compute_start_slot_of_epoch(int(self.chain.finalized_checkpoint.epoch), cfg=self.config)

    def wanted_roots(self) -> list[bytes]:
        """Blocks voted for by held attestations that we still lack."""
        for r in list(self._wanted):
            if self.chain.has_block(r):
                del self._wanted[r]
        return list(self._wanted)

    def _want(self, root: bytes) -> None:
        self._wanted[root] = None
        self._wanted.move_to_end(root)
        while len(self._wanted) > MAX_WANTED_ROOTS:
            self._wanted.popitem(last=False)

    # -- beacon_block ----------------------------------------------------------------------

    def validate_block(self, data: bytes) -> BlockVerdict:
        try:
            block = decode(self.types.BeaconBlock, data)
        except DecodeError as e:
            log.debug("gossip block does not decode: %s", e)
            return BlockVerdict(Verdict.REJECT, "undecodable", reason=str(e))
        slot = int(block.slot)
        root = block.signing_root()
        if self.chain.has_block(root):
            return BlockVerdict(Verdict.IGNORE, "seen", slot, root)
        now = self.clock()
        start = self.slot_start(slot)
        if start > now + self.clock_disparity:
            return BlockVerdict(Verdict.IGNORE, "future", slot, root, "from the future")
        if slot <= self.finalized_slot() and int(self.chain.finalized_checkpoint.epoch) > 0:
            return BlockVerdict(Verdict.IGNORE, "finalized", slot, root, "conflicts with finality")
        # A block early by less than the disparity is judged at its slot's start, so it is
        # imported and forwarded now (fork choice's clock moves at most that much early).
        self.chain.on_tick(max(now, start))
        res = self.chain.import_block(block)
        if res.status is Status.IMPORTED:
            return BlockVerdict(Verdict.ACCEPT, "imported", slot, root)
        if res.status is Status.INVALID:
            log.info("invalid gossip block 0x%s at slot %d: %s", root.hex()[:12], slot, res.reason)
            return BlockVerdict(Verdict.REJECT, "invalid", slot, root, res.reason)
        if res.status is Status.HELD:
            parent_known = self.chain.has_block(bytes(block.parent_root))
            return BlockVerdict(Verdict.IGNORE, "held" if parent_known else "unknown_parent", slot, root, res.reason)
        return BlockVerdict(Verdict.IGNORE, res.status.value, slot, root, res.reason)

    # -- beacon_attestation ----------------------------------------------------------------

    def _target_state(self, epoch: int, root: bytes) -> Any:
        """The target checkpoint state (0_fork-choice.md on_attestation), cached."""
        key = (epoch, root)
        state = self._checkpoint_states.get(key)
        if state is None:
            base = self.chain.state_at_block(root)
            start = compute_start_slot_of_epoch(epoch, cfg=self.config)
            if base.slot < start:
                state = base.copy()
                process_slots(state, start)
            else:
                state = base  # read-only use below
            self._checkpoint_states[key] = state
            while len(self._checkpoint_states) > MAX_CHECKPOINT_STATES:
                self._checkpoint_states.popitem(last=False)
        return state

    def validate_attestation(self, data: bytes) -> Verdict:
        try:
            att = decode(self.types.Attestation, data)
        except DecodeError:
            return Verdict.REJECT
        vote = bytes(att.data.beacon_block_root)
        target = att.data.target
        target_root = bytes(target.root)
        store_blocks = self.chain.store.blocks
        if vote not in store_blocks or target_root not in store_blocks:
            if self.chain.has_block(vote):
                return Verdict.IGNORE  # votes below finality: useless, not wrong
            # Cannot judge it yet: the chain holds it until the block arrives; sync asks for it.
            self.chain.import_attestation(att)
            self._want(vote if vote not in store_blocks else target_root)
            return Verdict.IGNORE
        epoch = int(target.epoch)
        if self.slot_start(compute_start_slot_of_epoch(epoch, cfg=self.config)) > self.clock() + self.clock_disparity:
            return Verdict.IGNORE  # target epoch has not started
        try:
            state = self._target_state(epoch, target_root)
            att_slot = get_attestation_data_slot(state, att.data)
            indexed = get_indexed_attestation(state, att)
        except (AssertionError, IndexError, ValueError, StateTransitionError) as e:
            log.debug("gossip attestation does not match its committee: %s", e)
            return Verdict.REJECT
        if self.slot_start(att_slot) > self.clock() + self.clock_disparity:
            return Verdict.IGNORE  # from the future
        if not is_valid_indexed_attestation(state, indexed):
            return Verdict.REJECT
        for slashing in self.slasher.on_attestation(att, indexed):
            self._found("attester_slashing", slashing)
        # Checked just above: fork choice need not verify the signature again.
        with bls.enabled(False):
            res = self.chain.import_attestation(att)
        if res.status is Status.INVALID:
            return Verdict.REJECT
        return Verdict.ACCEPT

    # -- operations ------------------------------------------------------------------------

    def remember_operation(self, kind: str, op: Any) -> None:
        """An operation of ours, already judged (the API's pool): our copy coming back by
        gossip is then IGNOREd as a repeat, not judged again."""
        pool = self.operations[kind]
        pool[op.hash_tree_root()] = op
        while len(pool) > MAX_OPERATIONS:
            pool.popitem(last=False)

    def validate_operation(self, kind: str, data: bytes) -> Verdict:
        typ, process = {
            "voluntary_exit": (self.types.VoluntaryExit, process_voluntary_exit),
            "proposer_slashing": (self.types.ProposerSlashing, process_proposer_slashing),
            "attester_slashing": (self.types.AttesterSlashing, process_attester_slashing),
        }[kind]
        try:
            op = decode(typ, data)
        except DecodeError:
            return Verdict.REJECT
        key = op.hash_tree_root()
        pool = self.operations[kind]
        if key in pool:
            return Verdict.IGNORE
        state = self.chain.head_state()  # a copy: process_* mutates it
        try:
            process(state, op)  # outside a block, signatures are verified on the spot
        except (StateTransitionError, AssertionError, IndexError, ValueError) as e:
            log.debug("gossip %s rejected: %s", kind, e)
            return Verdict.REJECT
        pool[key] = op
        while len(pool) > MAX_OPERATIONS:
            pool.popitem(last=False)
        for cb in list(self.on_operation):
            try:
                cb(kind, op)
            except Exception:
                log.exception("operation callback failed")
        return Verdict.ACCEPT

    # -- slashings we find ------------------------------------------------------------------

    def _on_imported_block(self, payload: Any) -> None:
        root, block = payload
        if int(block.slot) == 0:
            return
        try:
            # Not the block's own post-state: in a range-synced segment only epoch-start blocks
            # keep theirs, and rebuilding one per block costs more than the sync itself.
            state = self.chain.state_in_epoch_of(root)
            proposer = int(get_beacon_proposer_index_at_slot(state, int(block.slot)))
        except (KeyError, AssertionError, IndexError, ValueError, StateTransitionError) as e:
            log.debug("no proposer for block 0x%s: %s", bytes(root).hex()[:12], e)
            return
        slashing = self.slasher.on_block(block, proposer)
        if slashing is not None:
            self._found("proposer_slashing", slashing)
        for slashing in self.slasher.on_block_attestations(state, block.body.attestations):
            self._found("attester_slashing", slashing)

    def _covered(self, kind: str, op: Any) -> bool:
        """A slashing of the same validators is already pooled (from gossip, or found before)."""
        pool = self.operations[kind]
        if kind == "proposer_slashing":
            return any(int(p.proposer_index) == int(op.proposer_index) for p in pool.values())
        wanted = _slashed_by(op)
        covered: set[int] = set()
        for p in pool.values():
            covered |= _slashed_by(p)
        return bool(wanted) and wanted <= covered

    def _found(self, kind: str, op: Any) -> None:
        process = process_proposer_slashing if kind == "proposer_slashing" else process_attester_slashing
        who = sorted(_slashed_by(op)) if kind == "attester_slashing" else [int(op.proposer_index)]
        what = "two blocks in one epoch" if kind == "proposer_slashing" else _vote_kind(op)
        if self._covered(kind, op):
            log.info("slashable: validator %s signed %s; a %s of it is already pooled (from a peer)",
                     ",".join(map(str, who)), what, kind)
            return
        state = self.chain.head_state()
        try:
            process(state, op)
        except (StateTransitionError, AssertionError, IndexError, ValueError) as e:
            log.info("slashable: validator %s signed %s, but the head state does not take the %s: %s",
                     ",".join(map(str, who)), what, kind, e)
            return
        self.slashings_found[kind] += 1
        log.warning("slashable: validator %s signed %s; %s built", ",".join(map(str, who)), what, kind,
                    extra={"fields": {"slashing": kind, "validators": who, "offence": what}})
        pool = self.operations[kind]
        pool[op.hash_tree_root()] = op
        while len(pool) > MAX_OPERATIONS:
            pool.popitem(last=False)
        for cb in list(self.on_operation) + list(self.on_slashing):
            try:
                cb(kind, op)
            except Exception:
                log.exception("slashing callback failed")


def _slashed_by(op: Any) -> set[int]:
    """Validators an AttesterSlashing names in both attestations."""
    a, b = op.attestation_1, op.attestation_2
    return ({int(i) for i in a.custody_bit_0_indices} | {int(i) for i in a.custody_bit_1_indices}) & \
        ({int(i) for i in b.custody_bit_0_indices} | {int(i) for i in b.custody_bit_1_indices})


def _vote_kind(op: Any) -> str:
    d1, d2 = op.attestation_1.data, op.attestation_2.data
    if int(d1.target.epoch) == int(d2.target.epoch):
        return f"a double vote (target epoch {int(d1.target.epoch)})"
    return (f"a surround vote ({int(d1.source.epoch)}->{int(d1.target.epoch)} around "
            f"{int(d2.source.epoch)}->{int(d2.target.epoch)})")
