"""Network faults of a testnet run: link shaping where netem is missing, packet loss, partitions.

How each fault is made, by mode:

| fault | --netns | 127.0.0.1 |
| --- | --- | --- |
| latency, jitter | tc netem where the kernel has sch_netem, else the link relay | the link relay |
| bandwidth, resets | the link relay | the link relay |
| loss_pct | netem, else nftables `numgen random mod 100 < X drop` on the node's egress | refused (a TCP relay cannot lose a packet) |
| partition | nftables drops between the groups' addresses in every node namespace | the relays of links between groups are cut (open connections reset, new ones refused) |

A link relay (beacon/testnet/relay.py) sits on every static-peer link once any link needs one:
the dialer is given the relay's address, and each direction is shaped by its sending node's link.
Besides making the faults, this module watches what the nodes did about a partition: the fork
(different heads in the two groups), each node's reorgs, the time until all heads agree after the
heal and the time until finality advances again; the report prints them.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

from beacon.testnet import netns
from beacon.testnet.relay import Relay, RelayHub, Shaping, loopback_listener, tcp_connector
from beacon.testnet.spec import Link, Spec

LOSS_TABLE = "pbtn_loss"
PARTITION_TABLE = "pbtn_part"


class FaultError(RuntimeError):
    """A fault could not be set up; the message names the command and its error."""


# ------------------------------------------------------------------------------ nftables
def nft_unavailable_reason() -> str | None:
    if shutil.which("nft") is None:
        return "`nft` not found: install nftables (apt-get update && apt-get install -y nftables)"
    return None


def nft(ns: str, script: str) -> None:
    """Load an nft script inside namespace `ns`."""
    cmd = ["ip", "netns", "exec", ns, "nft", "-f", "-"]
    proc = subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise FaultError(f"`{' '.join(cmd)}` with {script.strip()!r} failed: {proc.stderr.strip()}")


def loss_script(pct: float, device: str = "eth0") -> str:
    """Drop pct% of the packets leaving `device` (the node's egress, as netem's loss would)."""
    # numgen gives 0..99: `< X` drops X out of 100 packets; the whole percent is what nft can do.
    return (f"table inet {LOSS_TABLE} {{\n chain out {{ type filter hook output priority 0; policy accept;\n"
            f"  oifname \"{device}\" numgen random mod 100 < {round(pct)} drop\n }}\n}}\n")


def partition_script(other_ips: list[str]) -> str:
    addrs = ", ".join(other_ips)
    return (f"table inet {PARTITION_TABLE} {{\n"
            f" chain in {{ type filter hook input priority 0; policy accept; ip saddr {{ {addrs} }} drop\n }}\n"
            f" chain out {{ type filter hook output priority 0; policy accept; ip daddr {{ {addrs} }} drop\n }}\n}}\n")


def heal_script() -> str:
    return f"delete table inet {PARTITION_TABLE}\n"


def unsupported_faults(spec: Spec, use_netns: bool, allow_no_shaping: bool) -> str | None:
    """Why this mode cannot make the description's faults (one sentence), or None."""
    if spec.bootnode is not None and any(e.action == "partition" for e in spec.events) and (
            not use_netns or nft_unavailable_reason() is not None):
        return ("a partition without --netns and nftables cuts the static-peer links' relays; with peering: "
                "discovery there are none: run with --netns (and nftables installed)")
    if allow_no_shaping:
        return None
    lossy = [n.id for n in spec.nodes if n.link.loss_pct > 0]
    if lossy and not use_netns:
        return (f"link loss_pct for {', '.join(lossy)} needs --netns (nftables drops packets in the node's "
                "namespace; the TCP relay used without it cannot lose a packet), or pass --skip-link-shaping "
                "to run without shaping")
    if lossy and (why := nft_unavailable_reason()) is not None and netns.netem_unavailable_reason() is not None:
        return f"link loss_pct for {', '.join(lossy)} needs tc netem or nftables: {why}"
    return None


# ------------------------------------------------------------------------------ what happened
@dataclasses.dataclass
class PartitionRecord:
    groups: list[list[str]]
    at_slot: int
    end_slot: int
    method: str = ""
    started: float | None = None
    healed: float | None = None
    max_heads: int = 0  # most distinct head roots seen in one poll while cut
    cut_polls: int = 0
    split_polls: int = 0  # polls while cut in which no group shared a head root with another
    heads_at_heal: dict[str, tuple[int | None, str | None]] = dataclasses.field(default_factory=dict)
    finalized_at_start: int | None = None  # highest finalized epoch of any node at the first poll while cut
    finalized_at_heal: int = 0  # highest finalized epoch of any node at the heal
    reorgs_at_heal: dict[str, int] = dataclasses.field(default_factory=dict)
    agreed: float | None = None  # first poll after the heal where every answering node had one head root
    agreed_slot: int | None = None
    finality: dict[str, tuple[float, int]] = dataclasses.field(default_factory=dict)  # node -> (t, epoch)


@dataclasses.dataclass
class NodeFaults:
    reorgs: int = 0
    max_depth: int = 0


class Faults:
    """The faults of one run: set up in `setup`, driven by `event`, fed every poll by `observe`."""

    def __init__(self, spec: Spec, lab: netns.NetnsLab | None, allow_no_shaping: bool,
                 note: Callable[[str], None], problem: Callable[[str], None],
                 clock: Callable[[], float]) -> None:
        self.spec = spec
        self.lab = lab
        self.allow_no_shaping = allow_no_shaping
        self.note, self.problem, self.clock = note, problem, clock
        self.hub: RelayHub | None = None
        self.via: dict[tuple[str, str], tuple[str, int]] = {}  # (dialer, target) -> relay address
        self.partitions = [PartitionRecord(e.groups, e.at_slot, e.at_slot + e.slots)
                           for e in spec.events if e.action == "partition"]
        self.nodes: dict[str, NodeFaults] = {n.id: NodeFaults() for n in spec.nodes}
        self.ips: dict[str, str] = {}
        self.audits: dict[str, dict[str, Any]] = {}  # node -> slashing audit after a run with events

    # --------------------------------------------------------------- set-up
    def check(self) -> None:
        """Refuse, before anything starts, what this mode cannot do."""
        if (reason := unsupported_faults(self.spec, self.lab is not None, self.allow_no_shaping)) is not None:
            raise FaultError(reason)

    def setup(self, addrs: dict[str, tuple[str, int]], reserved: frozenset[int] = frozenset()) -> dict[str, str]:
        """Make the link faults; returns node id -> what its link got, for the report. `reserved`:
        127.0.0.1 ports handed to the nodes, which a relay must not take."""
        self.check()
        self.ips = {k: ip for k, (ip, _) in addrs.items()}
        shown: dict[str, str] = {}
        shaped = [n for n in self.spec.nodes if n.link.active()]
        if self.allow_no_shaping:
            for n in shaped:
                self.problem(f"{n.id}: link shaping {n.link} not applied (--skip-link-shaping)")
            shaped = []
        netem = False
        if self.lab is not None and any(n.link.latency_ms or n.link.jitter_ms or n.link.loss_pct for n in shaped):
            reason = netns.netem_unavailable_reason()
            netem = reason is None
            if not netem:
                self.note(f"netem unavailable ({reason}): link delay through relays, loss through nftables")
        relay_shaping: dict[str, Shaping] = {}
        for n in shaped:
            parts = []
            link = n.link
            if netem and (link.latency_ms or link.jitter_ms or link.loss_pct):
                assert self.lab is not None
                try:
                    parts.append("netem: " + self.lab.shape(n.id, Link(link.latency_ms, link.jitter_ms, link.loss_pct)))
                except netns.NetnsError as e:
                    raise FaultError(str(e)) from None
                link = dataclasses.replace(link, latency_ms=0.0, jitter_ms=0.0, loss_pct=0.0)
            if link.loss_pct:
                assert self.lab is not None  # check() refused loss without namespaces
                if (reason := nft_unavailable_reason()) is not None:
                    raise FaultError(f"{n.id}: loss_pct needs netem or nftables: {reason}")
                nft(self.lab.node_ns[n.id], loss_script(link.loss_pct))
                parts.append(f"nftables: drop {round(link.loss_pct)}% of eth0 egress")
            sh = Shaping(link.latency_ms, link.jitter_ms, link.bandwidth_kbps, link.resets_per_min)
            if sh.active():
                relay_shaping[n.id] = sh
                parts.append("relay: " + sh.describe())
            shown[n.id] = "; ".join(parts)
        cut_by_relay = bool(self.partitions) and (self.lab is None or nft_unavailable_reason() is not None)
        for p in self.partitions:
            p.method = "relays cut" if cut_by_relay else "nftables drop"
        if relay_shaping or cut_by_relay:
            self._start_relays(addrs, relay_shaping, reserved)
        return shown

    def _start_relays(self, addrs: dict[str, tuple[str, int]], shaping: dict[str, Shaping],
                      reserved: frozenset[int]) -> None:
        self.hub = RelayHub()
        for dialer, targets in self.spec.peering.items():
            for target in targets:
                ip, port = addrs[target]
                if self.lab is None:
                    listener = (lambda: loopback_listener(reserved))  # type: ignore[misc]
                    connector = tcp_connector(ip, port)
                else:
                    # Both relay sockets live in the dialer's namespace: it dials 127.0.0.1 there, and
                    # the relay's connection leaves from the dialer's address (its firewall applies).
                    ns = self.lab.node_ns[dialer]
                    listener = (lambda ns=ns: netns.in_netns(ns, loopback_listener))  # type: ignore[misc]
                    connector = (lambda ns=ns, ip=ip, port=port:  # type: ignore[misc]
                                 netns.in_netns(ns, tcp_connector(ip, port)))
                relay = Relay(f"{dialer}->{target}", listener, connector,
                              up=shaping.get(dialer, Shaping()), down=shaping.get(target, Shaping()),
                              seed=len(self.via))
                try:
                    rport = self.hub.add(relay)
                except OSError as e:
                    raise FaultError(f"link relay {relay.name}: {e}") from None
                self.via[(dialer, target)] = ("127.0.0.1", rport)
        self.note(f"link relays on {len(self.via)} static-peer link(s): "
                  + ", ".join(f"{d}->{t} via 127.0.0.1:{p}" for (d, t), (_, p) in self.via.items()))

    def dial_address(self, dialer: str, target: str) -> tuple[str, int] | None:
        """Where `dialer` reaches `target`: its link relay, or None for the target's own address."""
        return self.via.get((dialer, target))

    # --------------------------------------------------------------- events
    def event(self, action: str, index: int, slot: int) -> None:
        p = self.partitions[index]
        groups = " | ".join("[" + ", ".join(g) + "]" for g in p.groups)
        if action == "partition":
            self._cut(p, True)
            p.started = self.clock()
            self.note(f"slot {slot}: partition {groups} ({p.method})")
        else:
            self._cut(p, False)
            p.healed = self.clock()
            self.note(f"slot {slot}: partition healed {groups}")
            if p.cut_polls == 0:
                self.problem(f"partition {index + 1} was healed before any poll saw it (the run was behind "
                             f"schedule at slot {slot}: nodes up late?); its fork was not observed")

    def _cut(self, p: PartitionRecord, cut: bool) -> None:
        if p.method == "relays cut":
            assert self.hub is not None
            group_of = {m: i for i, g in enumerate(p.groups) for m in g}
            names = {f"{d}->{t}" for (d, t) in self.via
                     if d in group_of and t in group_of and group_of[d] != group_of[t]}
            self.hub.set_cut(names, cut)
            return
        assert self.lab is not None
        for i, g in enumerate(p.groups):
            others = [self.ips[m] for j, og in enumerate(p.groups) if j != i for m in og]
            for m in g:
                nft(self.lab.node_ns[m], partition_script(others) if cut else heal_script())

    # --------------------------------------------------------------- watching
    def observe(self, samples: list[Any]) -> None:
        """Every poll's samples (runner.Sample): reorgs per node and the partitions' outcome."""
        ok = [s for s in samples if s.ok]
        for s in ok:
            nf = self.nodes[s.node]
            if s.reorgs is not None:
                nf.reorgs = max(nf.reorgs, s.reorgs)
            if s.reorg_depth is not None:
                nf.max_depth = max(nf.max_depth, s.reorg_depth)
        if not ok:
            return
        top_final = max(s.finalized_epoch or 0 for s in ok)
        for p in self.partitions:
            if p.started is None:
                continue
            if p.healed is None:
                if p.finalized_at_start is None:
                    p.finalized_at_start = top_final
                p.max_heads = max(p.max_heads, len({s.head_root for s in ok if s.head_root}))
                p.cut_polls += 1
                group_heads = [{s.head_root for s in ok if s.node in g} for g in p.groups]
                if all(group_heads) and not set.intersection(*group_heads):
                    p.split_polls += 1  # no head root in common between the groups
                p.heads_at_heal = {s.node: (s.head_slot, s.head_root) for s in ok}
                p.finalized_at_heal = top_final
                p.reorgs_at_heal = {s.node: self.nodes[s.node].reorgs for s in ok}
                continue
            t = ok[0].t
            if p.agreed is None and len(ok) == len(samples) and len({s.head_root for s in ok}) == 1:
                p.agreed = t
                p.agreed_slot = ok[0].head_slot
            for s in ok:
                if s.node not in p.finality and (s.finalized_epoch or 0) > p.finalized_at_heal:
                    p.finality[s.node] = (t, s.finalized_epoch or 0)

    def node_goal_met(self, node_id: str) -> bool:
        """goal.finality_resumes: the node saw finality advance after every heal."""
        if not self.spec.goal.finality_resumes:
            return True
        return all(p.healed is not None and node_id in p.finality for p in self.partitions)

    def run_goal_met(self) -> bool:
        """goal.reorg: some node reorged after the last partition began."""
        if not self.spec.goal.reorg:
            return True
        last = self.partitions[-1]
        return last.healed is not None and any(
            nf.reorgs > last.reorgs_at_heal.get(n, 0) for n, nf in self.nodes.items())

    def summary(self) -> dict[str, Any]:
        return {
            "partitions": [dataclasses.asdict(p) for p in self.partitions],
            "reorgs": {n: dataclasses.asdict(nf) for n, nf in self.nodes.items()},
            "audits": self.audits,
            "relays": {name: dataclasses.asdict(r.stats) for name, r in (self.hub.relays.items() if self.hub else [])},
        }

    def close(self, stopped: dict[str, tuple[Path, Path]] | None = None) -> None:
        """Stop the relays; after a run with events (partitions, equivocations, offline
        validators, restarts...), audit the stopped nodes' signatures (`stopped`: node id ->
        (datadir, log) of the nodes that ran)."""
        if self.hub is not None:
            self.hub.close()
        if (self.partitions or self.spec.events) and stopped:
            self.audit_signatures(stopped)

    def audit_signatures(self, stopped: dict[str, tuple[Path, Path]]) -> None:
        """Nothing slashable signed by an honest validator: each pybeacon node's slashing
        protection DB, and its log's `signed ...` lines where it logs them (debug level)."""
        from beacon.chaos.audit import audit
        from beacon.validator.protection import DB_DIRNAME

        for node_id, (datadir, log_path) in stopped.items():
            if not (datadir / DB_DIRNAME).exists():
                continue  # no validators, or not pybeacon
            try:
                a = audit(log_path.read_text(errors="replace"), datadir)
            except Exception as e:  # noqa: BLE001 - an unreadable DB is reported, not fatal
                self.problem(f"{node_id}: slashing audit failed: {e}")
                continue
            self.audits[node_id] = {"db_attestations": a.db_attestations, "db_proposals": a.db_proposals,
                                    "logged_signatures": a.attestations + a.blocks, "problems": a.problems}
            for p in a.problems:
                self.problem(f"{node_id}: slashable: {p}")


# ------------------------------------------------------------------------------ report
def report_lines(res: Any) -> list[str]:
    """The report's "Faults" section (empty when the run had none)."""
    faults: Faults | None = getattr(res, "faults", None)
    if faults is None or not (faults.partitions or faults.hub or faults.audits
                              or any(nf.reorgs for nf in faults.nodes.values())):
        return []
    spe, sps = res.spec.slots_per_epoch, res.spec.seconds_per_slot
    lines = ["", "### Faults induced and what the nodes did", ""]

    def at(t: float | None) -> str:
        if t is None:
            return "—"
        slot = int((t - res.genesis_time) // sps)
        return f"{t - res.genesis_time:.0f} s (slot {slot})"

    for i, p in enumerate(faults.partitions):
        groups = " | ".join("[" + ", ".join(g) + "]" for g in p.groups)
        lines.append(f"**Partition {i + 1}**: {groups} from slot {p.at_slot} (epoch {p.at_slot / spe:g}) to slot "
                     f"{p.end_slot} (epoch {p.end_slot / spe:g}), by {p.method}; cut at {at(p.started)}, "
                     f"healed at {at(p.healed)}.")
        lines.append("")
        if p.started is None:
            lines += ["Not induced: the run ended first.", ""]
            continue
        fork = (f"the groups reported different head roots in {p.split_polls} of {p.cut_polls} polls "
                f"(at most {p.max_heads} in one poll; the reorg depths below say how far back they forked)")
        at_cut = "?" if p.finalized_at_start is None else p.finalized_at_start
        lines.append(f"- While cut: {fork}; finalized epoch {at_cut} at the cut, {p.finalized_at_heal} "
                     "at the heal (neither side of an even split has 2/3 of the stake).")
        if p.heads_at_heal:
            heads = "; ".join(f"{n} slot {sl} `{(r or '?')[:10]}…`" for n, (sl, r) in sorted(p.heads_at_heal.items()))
            lines.append(f"- Heads at the heal: {heads}")
        if p.healed is not None:
            agree = (f"{p.agreed - p.healed:.0f} s after the heal (head slot {p.agreed_slot})"
                     if p.agreed is not None else "not within the run")
            lines.append(f"- Time to agree (every node on one head root): {agree}")
            if p.finality:
                last = max(t for t, _ in p.finality.values())
                done = "all nodes" if len(p.finality) == len(faults.nodes) else f"{len(p.finality)} node(s)"
                lines.append(f"- Time to next finality (finalized epoch beyond {p.finalized_at_heal}): "
                             f"{last - p.healed:.0f} s after the heal for {done}")
            else:
                lines.append(f"- Time to next finality: finality did not advance beyond epoch {p.finalized_at_heal} "
                             "within the run")
        lines.append("")
    lines += ["| node | reorgs | deepest reorg (slots) | reorgs after the last heal | finality after the heal |",
              "| --- | --- | --- | --- | --- |"]
    last_p = faults.partitions[-1] if faults.partitions else None
    for n, nf in faults.nodes.items():
        after = nf.reorgs - last_p.reorgs_at_heal.get(n, 0) if last_p and last_p.healed else "—"
        fin = "—"
        if last_p and n in last_p.finality and last_p.healed is not None:
            t, ep = last_p.finality[n]
            fin = f"epoch {ep}, {t - last_p.healed:.0f} s after the heal"
        lines.append(f"| {n} | {nf.reorgs} | {nf.max_depth} | {after} | {fin} |")
    if faults.audits:
        bad = {n: a["problems"] for n, a in faults.audits.items() if a["problems"]}
        total = sum(a["db_attestations"] for a in faults.audits.values())
        lines += ["", f"Slashing audit (beacon/chaos/audit.py) of {', '.join(faults.audits)}: "
                      + (f"**slashable signatures**: {bad}" if bad else
                         f"nothing slashable among {total} attestation and "
                         f"{sum(a['db_proposals'] for a in faults.audits.values())} proposal records of the "
                         "slashing-protection DBs (and the logged signatures, where logged).")]
    if faults.hub is not None:
        lines += ["", "| relay (dialer->listener) | shaping up / down | connections | refused while cut | "
                      "reset while cut | random resets | bytes up | bytes down |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, r in faults.hub.relays.items():
            s = r.stats
            lines.append(f"| {name} | {r.up.describe()} / {r.down.describe()} | {s.accepted} | {s.refused} | {s.cut} | "
                         f"{s.resets} | {s.bytes_up} | {s.bytes_down} |")
    return lines
