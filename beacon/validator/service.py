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
        ops = f", {exits} voluntary exit(s)" if exits else ""
        log.info("slot %d: proposed block 0x%s (proposer %d, %d attestations%s, parent slot %d)", slot,
                 root.hex()[:12], proposer, len(block.body.attestations), ops, head.slot)

    def _build_block(self, state: Any, parent_root: bytes, slot: int, key: ValidatorKey) -> Any:
        cfg = state.config
        eth1_data = get_eth1_vote(state, 2 * getattr(cfg, "ETH1_FOLLOW_DISTANCE", 2**10), self.eth1)
        min_target = max(0, compute_epoch_of_slot(slot, cfg=cfg) - 1)
        attestations = select_attestations(state, self.attestation_pool.candidates(min_target), self._verified)
        ps, asl, exits = self.operation_pool.for_block(state)
        kwargs = dict(eth1_data=eth1_data, attestations=attestations, proposer_slashings=ps,
                      attester_slashings=asl, voluntary_exits=exits, graffiti=GRAFFITI)
        try:
            block, _post = produce_block(state, parent_root, slot, key.privkey, **kwargs)
        except Exception as e:  # noqa: BLE001 - a bad pooled operation must not cost the block
            log.warning("slot %d: block with pooled operations fails (%s); proposing without them", slot, e)
            block, _post = produce_block(state, parent_root, slot, key.privkey, eth1_data=eth1_data,
                                         graffiti=GRAFFITI)
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
        for duty in duties:
            data = get_attestation_data(state, head.root, duty.shard)
            root = data.hash_tree_root()
            plans.append((duty, data))
            requests += [AttestationRequest(v, int(data.source.epoch), int(data.target.epoch), root)
                         for v in duty.validators]
        refused = self.protection.record_attestations(requests)  # one fsync'd batch, before any signature
        for v, reason in refused.items():
            log.warning("slot %d: validator %d does not attest: slashing protection: %s", slot, v, reason)
        self._account(slot, "attestation", "declined", len(refused))
        for duty, data in plans:
            signers = {v: self.keys[v].privkey for v in duty.validators if v not in refused}
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
