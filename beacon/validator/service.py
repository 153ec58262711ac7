"""The validator duty service: proposals at the start of a slot, attestations when the slot's
block arrives or at one third of the slot (0_beacon-chain-validator.md v0.8.2).

Order of every signature, as "How to avoid slashing" asks: build the message -> record it in
slashing protection (synced to disk) -> sign -> import locally -> publish. A refusal by slashing
protection is a *declined* duty (logged with the reason), never a signature.

Duty accounting (per slot, per kind): every assigned duty ends as exactly one of
  done      signed and published,
  declined  refused by slashing protection,
  missed    not done in time (node syncing, an error, the slot over before we got to it).
A validator set *offline* (`set_offline`, the testnet's offline event) does none of its duties:
they are counted as "offline" in the totals, not as missed. It signs nothing while offline, and
when it comes back every signature still goes through slashing protection, so a validator that
returns cannot contradict what it signed before it left.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Sequence

from beacon.state import compute_epoch_of_slot, get_beacon_proposer_index
from beacon.state.slots import process_slots
from beacon.validator.duties import epoch_attester_duties
from beacon.validator.keys import ValidatorKey
from beacon.validator.pools import AttestationPool, OperationPool
from beacon.validator.producer import (
    InteropEth1, get_attestation_data, get_eth1_vote, make_attestation, produce_block,
    select_attestations, sign_block,
)
from beacon.validator.protection import AttestationRequest, SlashingProtection

log = logging.getLogger("beacon.validator")

GRAFFITI = b"pybeacon"
# The second block of a chaos proposal equivocation differs from the honest one only here.
EQUIVOCATION_GRAFFITI = b"pybeacon equivocation"
EQUIVOCATION_KINDS = ("proposal", "double_vote", "surround_vote")


@dataclass
class Equivocation:
    """One chaos order (--unsafe-allow-equivocation): what, for whom, and when it was signed."""
    validator: int
    kind: str
    armed_slot: int
    slot: Optional[int] = None  # when both messages were signed and published
    time: Optional[float] = None
    roots: list[str] = field(default_factory=list)  # what was signed (block signing roots / data roots)
    waiting: str = ""  # why it has not happened yet

    def doc(self) -> dict[str, Any]:
        return {"validator": self.validator, "kind": self.kind, "armed_slot": self.armed_slot, "slot": self.slot,
                "time": self.time, "signed": self.roots, "waiting": self.waiting}


class Publisher(Protocol):
    async def publish_block(self, block: Any) -> None: ...

    async def publish_attestation(self, attestation: Any) -> None: ...

    def is_syncing(self) -> bool: ...


# kind, outcome ("done" | "declined" | "missed"), seconds after the slot start (done only)
DutyListener = Callable[[str, str, Optional[float]], None]


@dataclass
class SlotTally:
    proposed: int = 0
    attested: int = 0
    declined: int = 0
    missed: int = 0


@dataclass
class DutyTotals:
    """Cumulative counts by kind and outcome, for the API and the benchmark."""
    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, kind: str, outcome: str, n: int = 1) -> None:
        self.counts[(kind, outcome)] = self.counts.get((kind, outcome), 0) + n

    def get(self, kind: str, outcome: str) -> int:
        return self.counts.get((kind, outcome), 0)


class ValidatorService:
    def __init__(self, chain: Any, keys: Sequence[ValidatorKey], protection: SlashingProtection,
                 attestation_pool: AttestationPool, operation_pool: OperationPool, publisher: Publisher,
                 genesis_eth1_data: Any, *, now: Callable[[], float] = time.time,
                 slot_start: Callable[[int], float] = lambda s: 0.0,
                 listener: Optional[DutyListener] = None) -> None:
        self.chain = chain
        self.keys = {k.index: k for k in keys}
        self.protection = protection
        self.attestation_pool = attestation_pool
        self.operation_pool = operation_pool
        self.publisher = publisher
        self.eth1 = InteropEth1(genesis_eth1_data)
        self.now = now
        self.slot_start = slot_start
        self.listener = listener
        self.tallies: dict[int, SlotTally] = {}
        self.totals = DutyTotals()
        self._verified: set = set()  # roots of pooled attestations whose signature we checked
        self._attested_slots: set[int] = set()
        self.offline: set[int] = set()  # validators told to skip their duties (set_offline)
        # Chaos: equivocations ordered through the node's chaos endpoint (only with
        # --unsafe-allow-equivocation). Slashing protection is bypassed for the one extra
        # message of each, and nothing of it is recorded there.
        self.equivocations: list[Equivocation] = []

    # --- offline toggle ---------------------------------------------------------------------
    def set_offline(self, indices: Sequence[int], offline: bool) -> list[int]:
        """Stop (or resume) the duties of `indices`, all of which must be ours (ValueError
        names the first that is not). Returns the sorted offline set afterwards."""
        foreign = [i for i in indices if i not in self.keys]
        if foreign:
            raise ValueError(f"validator {foreign[0]} is not run by this node "
                             f"(it runs {_ranges(sorted(self.keys))})")
        if offline:
            self.offline.update(indices)
        else:
            self.offline.difference_update(indices)
        log.warning("validators %s %s; offline now: %s", _ranges(sorted(indices)),
                    "go offline (no duties)" if offline else "come back online", _ranges(sorted(self.offline)) or "none")
        return sorted(self.offline)

    def _online_keys(self) -> dict[int, ValidatorKey]:
        if not self.offline:
            return self.keys
        return {i: k for i, k in self.keys.items() if i not in self.offline}

    # --- bookkeeping ----------------------------------------------------------------------
    def tally(self, slot: int) -> SlotTally:
        t = self.tallies.get(slot)
        if t is None:
            t = self.tallies[slot] = SlotTally()
            for old in [s for s in self.tallies if s < slot - 64]:
                del self.tallies[old]
        return t

    def _account(self, slot: int, kind: str, outcome: str, n: int = 1) -> None:
        if n <= 0:
            return
        tally = self.tally(slot)
        if outcome == "done":
            if kind == "proposal":
                tally.proposed += n
            else:
                tally.attested += n
        elif outcome == "declined":
            tally.declined += n
        else:
            tally.missed += n
        self.totals.add(kind, outcome, n)
        if self.listener is not None:
            delay = self.now() - self.slot_start(slot) if outcome == "done" else None
            for _ in range(n):
                self.listener(kind, outcome, delay)

    # --- proposer duty ----------------------------------------------------------------------
    async def propose(self, slot: int) -> None:
        """At the start of `slot`: if one of ours is the proposer, build, protect, sign, import, publish."""
        if slot == 0 or not self.keys:
            return  # slot 0 is the genesis block's
        head = self.chain.head
        if head.slot >= slot:
            return  # a block for this slot is already our head (e.g. restarted within the slot)
        state = self.chain.state_at_block(head.root).copy()
        process_slots(state, slot)
        proposer = int(get_beacon_proposer_index(state))
        key = self.keys.get(proposer)
        if key is None:
            return
        if proposer in self.offline:
            log.info("slot %d: proposer %d is offline; no block", slot, proposer)
            self.totals.add("proposal", "offline")
            return
        if state.validators[proposer].slashed:
            # v0.8.2 still draws slashed (not yet exited) validators as proposers, and
            # process_block_header refuses their blocks: this slot stays empty whatever we do.
            log.warning("slot %d: proposer %d is slashed; no block is possible", slot, proposer)
            self.totals.add("proposal", "impossible")
            return
        if self.publisher.is_syncing():
            log.warning("slot %d: proposer %d skips its block: still syncing (head %d)", slot, proposer, head.slot)
            self._account(slot, "proposal", "missed")
            return
        try:
            block = self._build_block(state, head.root, slot, key)
        except Exception:  # noqa: BLE001 - one failed duty must not stop the node
            log.exception("slot %d: building the block of proposer %d failed", slot, proposer)
            self._account(slot, "proposal", "missed")
            return
        epoch = compute_epoch_of_slot(slot, cfg=state.config)
        root = block.signing_root()
        refused = self.protection.record_proposal(proposer, epoch, slot, root)
        if refused is not None:
            log.warning("slot %d: not proposing: slashing protection: %s", slot, refused)
            self._account(slot, "proposal", "declined")
            return
        sign_block(state, block, key.privkey)
        log.debug("signed block slot %d proposer %d epoch %d root 0x%s", slot, proposer, epoch, root.hex())
        result = self.chain.import_block(block)
        if not result.ok:
            # Our own block failing our own import is a bug; say so loudly, do not publish.
            log.error("slot %d: own block 0x%s was not imported: %s %s", slot, root.hex()[:12],
                      result.status.value, result.reason)
            self._account(slot, "proposal", "missed")
            return
        await self.publisher.publish_block(block)
        self._account(slot, "proposal", "done")
        exits = len(block.body.voluntary_exits)
        slashings = len(block.body.proposer_slashings) + len(block.body.attester_slashings)
        ops = (f", {exits} voluntary exit(s)" if exits else "") + (f", {slashings} slashings" if slashings else "")
        log.info("slot %d: proposed block 0x%s (proposer %d, %d attestations%s, parent slot %d)", slot,
                 root.hex()[:12], proposer, len(block.body.attestations), ops, head.slot)
        if slashings:
            log.info("slot %d: block 0x%s includes proposer slashings of %s and attester slashings of %s", slot,
                     root.hex()[:12], [int(p.proposer_index) for p in block.body.proposer_slashings],
                     [_attester_slashing_indices(a) for a in block.body.attester_slashings])
        order = self._armed(proposer, ("proposal",))
        if order is not None:
            await self._equivocate_proposal(order, state, head.root, slot, key, root)

    def _build_block(self, state: Any, parent_root: bytes, slot: int, key: ValidatorKey,
                     graffiti: bytes = GRAFFITI) -> Any:
        cfg = state.config
        eth1_data = get_eth1_vote(state, 2 * getattr(cfg, "ETH1_FOLLOW_DISTANCE", 2**10), self.eth1)
        min_target = max(0, compute_epoch_of_slot(slot, cfg=cfg) - 1)
        attestations = select_attestations(state, self.attestation_pool.candidates(min_target), self._verified)
        ps, asl, exits = self.operation_pool.for_block(state)
        kwargs = dict(eth1_data=eth1_data, attestations=attestations, proposer_slashings=ps,
                      attester_slashings=asl, voluntary_exits=exits, graffiti=graffiti)
        try:
            block, _post = produce_block(state, parent_root, slot, key.privkey, **kwargs)
        except Exception as e:  # noqa: BLE001 - a bad pooled operation must not cost the block
            log.warning("slot %d: block with pooled operations fails (%s); proposing without them", slot, e)
            block, _post = produce_block(state, parent_root, slot, key.privkey, eth1_data=eth1_data,
                                         graffiti=graffiti)
        return block

    # --- attester duty ------------------------------------------------------------------------
    async def attest(self, slot: int, deadline: float) -> None:
        """Attest for `slot` with every one of ours assigned to it (once per slot)."""
        if not self.keys or slot in self._attested_slots:
            return
        self._attested_slots.add(slot)
        for old in [s for s in self._attested_slots if s < slot - 64]:
            self._attested_slots.discard(old)
        self.chain.on_tick(self.now())
        head = self.chain.update_head()
        if head.slot > slot:
            return  # cannot happen with a sane clock: blocks from the future are held
        state = self.chain.state_at_block(head.root).copy()
        if state.slot < slot:
            process_slots(state, slot)
        cfg = state.config
        if self.offline:
            absent = epoch_attester_duties(state, compute_epoch_of_slot(slot, cfg=cfg),
                                           {i: self.keys[i] for i in self.offline}).get(slot, [])
            self.totals.add("attestation", "offline", sum(len(d.validators) for d in absent))
        duties = epoch_attester_duties(state, compute_epoch_of_slot(slot, cfg=cfg), self._online_keys()).get(slot, [])
        expected = sum(len(d.validators) for d in duties)
        if not expected:
            return
        if self.now() > deadline:
            log.warning("slot %d: %d attestations missed: the slot was over before we got to them", slot, expected)
            self._account(slot, "attestation", "missed", expected)
            return
        if self.publisher.is_syncing():
            log.warning("slot %d: %d attestations skipped: still syncing (head %d)", slot, expected, head.slot)
            self._account(slot, "attestation", "missed", expected)
            return
        plans = []
        requests = []
        chaos: list[tuple[Equivocation, Any, Any]] = []  # (order, duty, honest data)
        for duty in duties:
            data = get_attestation_data(state, head.root, duty.shard)
            root = data.hash_tree_root()
            plans.append((duty, data))
            for v in duty.validators:
                order = self._armed(v, ("double_vote", "surround_vote"))
                if order is not None and self._equivocation_ready(order, state, head.root, data):
                    chaos.append((order, duty, data))
                    if order.kind == "surround_vote":
                        continue  # its honest vote is replaced by the surrounding one
                requests.append(AttestationRequest(v, int(data.source.epoch), int(data.target.epoch), root))
        refused = self.protection.record_attestations(requests)  # one fsync'd batch, before any signature
        for v, reason in refused.items():
            log.warning("slot %d: validator %d does not attest: slashing protection: %s", slot, v, reason)
        self._account(slot, "attestation", "declined", len(refused))
        surrounding = {order.validator for order, _, _ in chaos if order.kind == "surround_vote"}
        self._account(slot, "attestation", "declined", len(surrounding))
        for duty, data in plans:
            signers = {v: self.keys[v].privkey for v in duty.validators if v not in refused and v not in surrounding}
            if not signers:
                continue
            try:
                att = make_attestation(state, data, duty.committee, signers)
                self.attestation_pool.add(att, verified=True)
                # The publisher hands it to our fork choice too (held there until the slot is over).
                await self.publisher.publish_attestation(att)
            except Exception:  # noqa: BLE001
                log.exception("slot %d: attestation of shard %d failed", slot, duty.shard)
                self._account(slot, "attestation", "missed", len(signers))
                continue
            self._account(slot, "attestation", "done", len(signers))
            # One line per signed message, machine-readable: tests audit a run for slashable pairs.
            log.debug("signed attestation slot %d validators %s source %d target %d data 0x%s head 0x%s", slot,
                      ",".join(str(v) for v in signers), int(data.source.epoch), int(data.target.epoch),
                      data.hash_tree_root().hex(), head.root.hex()[:12])
        for order, duty, data in chaos:
            if order.validator in refused:  # no honest vote to pair with: wait for the next duty
                order.waiting = f"its vote at slot {slot} was refused by slashing protection"
                continue
            await self._equivocate_attestation(order, state, head.root, slot, duty, data)

    # --- chaos: equivocation on order ----------------------------------------------------------
    def arm_equivocation(self, validator: int, kind: str, now_slot: int) -> Equivocation:
        """Order validator `validator` to sign a slashable pair at its next duty of that kind
        (a proposal for "proposal", an attestation otherwise). ValueError if it cannot."""
        if kind not in EQUIVOCATION_KINDS:
            raise ValueError(f"unknown equivocation kind {kind!r}; one of {', '.join(EQUIVOCATION_KINDS)}")
        if validator not in self.keys:
            ours = sorted(self.keys)
            raise ValueError(f"validator {validator} is not run by this node (it runs "
                             f"{', '.join(map(str, ours[:16]))}{' ...' if len(ours) > 16 else ''})")
        if self._armed(validator, EQUIVOCATION_KINDS) is not None:
            raise ValueError(f"validator {validator} already has an equivocation pending")
        order = Equivocation(validator, kind, now_slot)
        self.equivocations.append(order)
        log.warning("CHAOS: validator %d will equivocate (%s) at its next %s duty; slashing protection is "
                    "bypassed for that one message", validator, kind, "proposer" if kind == "proposal" else "attester",
                    extra={"fields": {"chaos": "armed", "validator": validator, "kind": kind}})
        return order

    def _armed(self, validator: int, kinds: Sequence[str]) -> Optional[Equivocation]:
        for order in self.equivocations:
            if order.slot is None and order.validator == validator and order.kind in kinds:
                return order
        return None

    def _done(self, order: Equivocation, slot: int, roots: Sequence[bytes]) -> None:
        order.slot, order.time, order.waiting = slot, self.now(), ""
        order.roots = ["0x" + r.hex() for r in roots]
        log.warning("CHAOS: validator %d equivocated (%s) at slot %d: signed 0x%s and 0x%s", order.validator,
                    order.kind, slot, roots[0].hex()[:12], roots[1].hex()[:12],
                    extra={"fields": {"chaos": "equivocated", "validator": order.validator, "kind": order.kind,
                                      "slot": slot}})

    async def _equivocate_proposal(self, order: Equivocation, state: Any, parent_root: bytes, slot: int,
                                   key: ValidatorKey, honest_root: bytes) -> None:
        """A second, different block for the slot of our honest one: same parent, other graffiti.
        Not recorded in slashing protection (the honest block is the record)."""
        block = self._build_block(state, parent_root, slot, key, graffiti=EQUIVOCATION_GRAFFITI)
        sign_block(state, block, key.privkey)
        result = self.chain.import_block(block)
        if not result.ok:
            log.error("CHAOS: the equivocating block was not imported: %s %s", result.status.value, result.reason)
            return
        await self.publisher.publish_block(block)
        self._done(order, slot, [honest_root, block.signing_root()])

    def _equivocation_ready(self, order: Equivocation, state: Any, head_root: bytes, data: Any) -> bool:
        """Whether this duty can carry the ordered pair; if not, why is kept in order.waiting."""
        if order.kind == "double_vote":
            if self._other_vote_root(head_root) is None:
                order.waiting = "no block other than the head to vote for yet"
                return False
            return True
        # surround_vote: the one we replace our vote with, source epoch 0, must surround the
        # validator's previous vote, so that one needs a source epoch of at least 1.
        target = int(data.target.epoch)
        earlier = [r for r in self.protection.attestations_of(order.validator) if r.target < target]
        if not earlier or earlier[-1].source < 1:
            order.waiting = "its previous vote has source epoch 0 (nothing justified yet): nothing to surround"
            return False
        return True

    def _other_vote_root(self, head_root: bytes) -> Optional[bytes]:
        block = self.chain.get_block(head_root)
        if block is None or int(block.slot) == 0:
            return None
        return bytes(block.parent_root)

    async def _equivocate_attestation(self, order: Equivocation, state: Any, head_root: bytes, slot: int,
                                      duty: Any, data: Any) -> None:
        """The conflicting vote, signed by this one validator alone and not recorded in
        slashing protection. double_vote: the honest data voting for the head's parent
        (same target epoch). surround_vote: the honest data with source epoch 0, which
        surrounds the validator's previous vote (source >= 1, earlier target)."""
        other = data.copy()
        if order.kind == "double_vote":
            other.beacon_block_root = self._other_vote_root(head_root)
            first = data.hash_tree_root()
        else:
            other.source = state.types.Checkpoint(epoch=0, root=self.chain.genesis_root)
            earlier = [r for r in self.protection.attestations_of(order.validator) if r.target < int(data.target.epoch)]
            first = earlier[-1].root
        att = make_attestation(state, other, duty.committee, {order.validator: self.keys[order.validator].privkey})
        await self.publisher.publish_attestation(att)
        self._done(order, slot, [first, other.hash_tree_root()])

    def account_skipped_slots(self, slots: Sequence[int]) -> None:
        """The node was too late for these slots (a stall, SIGSTOP): whatever our validators had
        to do in them is missed. Counted so that "no missed duty" means what it says."""
        if not self.keys or not slots:
            return
        head = self.chain.head
        state = self.chain.state_at_block(head.root).copy()
        cfg = state.config
        for slot in slots:
            if slot <= state.slot:
                continue
            process_slots(state, slot)
            proposer = int(get_beacon_proposer_index(state))
            if proposer in self.keys and proposer not in self.offline and not state.validators[proposer].slashed:
                self._account(slot, "proposal", "missed")
            if slot not in self._attested_slots:
                self._attested_slots.add(slot)
                duties = epoch_attester_duties(state, compute_epoch_of_slot(slot, cfg=cfg),
                                               self._online_keys()).get(slot, [])
                self._account(slot, "attestation", "missed", sum(len(d.validators) for d in duties))

    def duties(self, epoch: int) -> dict[str, Any]:
        """Our proposer and attester duties in `epoch` (current or next) from the head state."""
        head = self.chain.head
        state = self.chain.state_at_block(head.root).copy()
        cfg = state.config
        start = epoch * cfg.SLOTS_PER_EPOCH
        if state.slot < start:
            process_slots(state, start)
        attesters = epoch_attester_duties(state, epoch, self.keys)
        proposers = []
        if compute_epoch_of_slot(state.slot, cfg=cfg) == epoch:
            probe = state.copy()
            for slot in range(max(start, int(probe.slot)), start + cfg.SLOTS_PER_EPOCH):
                if probe.slot < slot:
                    process_slots(probe, slot)
                p = int(get_beacon_proposer_index(probe))
                if p in self.keys:
                    proposers.append({"slot": slot, "validator": p})
        return {
            "epoch": epoch,
            "proposers": proposers,
            "attesters": [{"slot": d.slot, "shard": d.shard, "validators": list(d.validators)}
                          for slot in sorted(attesters) for d in attesters[slot]],
        }


def _ranges(indices: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5' (for log lines and errors)."""
    out: list[str] = []
    for i in indices:
        if out and "-" in out[-1] and int(out[-1].split("-")[1]) == i - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{i}"
        elif out and "-" not in out[-1] and int(out[-1]) == i - 1:
            out[-1] = f"{out[-1]}-{i}"
        else:
            out.append(str(i))
    return ",".join(out)
def _attester_slashing_indices(op: Any) -> list[int]:
    a, b = op.attestation_1, op.attestation_2
    first = {int(i) for i in a.custody_bit_0_indices} | {int(i) for i in a.custody_bit_1_indices}
    second = {int(i) for i in b.custody_bit_0_indices} | {int(i) for i in b.custody_bit_1_indices}
    return sorted(first & second)
