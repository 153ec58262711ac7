"""What the monitor knows: the union block tree of every watched node, each node's view, and
the checks it makes. Pure data and logic (no I/O), fed by the watchers, read by the page.

Every change is also sent to the listeners as a small JSON "delta" (the page applies them
one by one: nothing is redrawn from scratch, so 10,000 blocks and 16 nodes stay cheap):
    {"type": "block", ...}      a block joined the tree (x = slot, y = its lane)
    {"type": "mark", ...}       blocks changed class (orphaned by a reorg)
    {"type": "node", ...}       a node's head / checkpoints / peers / status changed
    {"type": "alert", ...}      a reorg, a state-root disagreement, a replay mismatch
    {"type": "participation", ...}, {"type": "missed", ...}, {"type": "summary", ...}

Lanes: a block takes its parent's lane if it is the parent's first child; a second child
opens a new lane, so each fork is drawn as its own row.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

MAX_ALERTS = 500


@dataclass
class BlockRec:
    root: str
    slot: int
    parent: Optional[str]
    lane: int
    state_root: str  # what the block claims
    seen_by: set[str] = field(default_factory=set)
    children: int = 0
    orphaned: bool = False
    replay: Optional[str] = None  # "ok" | "differs: ..." | None (not replayed)
    proposer: Optional[int] = None

    def doc(self) -> dict[str, Any]:
        return {"type": "block", "root": self.root, "slot": self.slot, "parent": self.parent, "lane": self.lane,
                "orphaned": self.orphaned, "replay": self.replay, "proposer": self.proposer}


@dataclass
class NodeRec:
    name: str
    url: str
    online: bool = False
    error: str = ""
    peer_id: str = ""
    version: str = ""
    head_root: Optional[str] = None
    head_slot: Optional[int] = None
    head_state: Optional[str] = None
    justified: Optional[tuple[int, str]] = None
    finalized: Optional[tuple[int, str]] = None
    peers: list[str] = field(default_factory=list)
    reorgs: int = 0
    source: str = "api"  # "api": the Beacon API; "metrics": only the interop Prometheus gauges
    peer_count: Optional[int] = None  # from libp2p_peers when the peer ids are unknown

    def doc(self) -> dict[str, Any]:
        cp = lambda c: None if c is None else {"epoch": c[0], "root": c[1]}  # noqa: E731
        return {"type": "node", "name": self.name, "url": self.url, "online": self.online, "error": self.error,
                "peer_id": self.peer_id, "version": self.version, "head_root": self.head_root,
                "head_slot": self.head_slot, "head_state": self.head_state, "justified": cp(self.justified),
                "finalized": cp(self.finalized), "peers": self.peers, "reorgs": self.reorgs,
                "source": self.source, "peer_count": self.peer_count}


class Model:
    def __init__(self, names_urls: list[tuple[str, str]], slots_per_epoch: int = 8,
                 clock: Callable[[], float] = time.time) -> None:
        self.nodes = {name: NodeRec(name, url) for name, url in names_urls}
        self.blocks: dict[str, BlockRec] = {}
        self.kids: dict[str, list[str]] = {}  # parent root -> child roots
        self.lanes = 0
        self.spe = slots_per_epoch
        self.clock = clock
        self.alerts: list[dict[str, Any]] = []
        # target epoch -> set of (shard, bit) that attested (each validator once per epoch)
        self.attested: dict[int, set[tuple[int, int]]] = {}
        self.active_validators: Optional[int] = None
        self.missed: list[tuple[int, int]] = []  # (slot, lane) with no block between parent and child
        self.seq = 0
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.disagreement: Optional[dict[str, Any]] = None
        self._alerted: set[Any] = set()
        # The interop metrics give a root as the int64 of its last 8 bytes, printed as a float
        # (53 bits kept): the same float finds the block.
        self.by_gauge: dict[float, str] = {}

    # --- deltas ----------------------------------------------------------------------------
    def emit(self, doc: dict[str, Any]) -> None:
        self.seq += 1
        doc["seq"] = self.seq
        for cb in list(self.listeners):
            cb(doc)

    def snapshot(self) -> dict[str, Any]:
        blocks = sorted(self.blocks.values(), key=lambda b: b.slot)
        return {"type": "snapshot", "seq": self.seq, "spe": self.spe,
                "blocks": [b.doc() for b in blocks], "nodes": [n.doc() for n in self.nodes.values()],
                "alerts": self.alerts[-100:], "participation": self.participation(),
                "missed": [{"slot": s, "lane": lane} for s, lane in self.missed],
                "summary": self.summary()}

    # --- the tree ----------------------------------------------------------------------------
    def has(self, root: str) -> bool:
        return root in self.blocks

    def seen(self, root: str, node: str) -> None:
        if root in self.blocks:
            self.blocks[root].seen_by.add(node)

    def add_block(self, root: str, slot: int, parent: Optional[str], state_root: str, seen_by: str = "") -> BlockRec:
        """Add a block whose parent is in the tree (or a root block: genesis, or the oldest one
        fetched). Returns the existing record if known."""
        rec = self.blocks.get(root)
        if rec is not None:
            if seen_by:
                rec.seen_by.add(seen_by)
            return rec
        parent_rec = self.blocks.get(parent) if parent else None
        if parent_rec is None:
            lane = 0 if not self.blocks else self._new_lane()
        elif parent_rec.children == 0:
            lane = parent_rec.lane
        else:
            lane = self._new_lane()
        rec = BlockRec(root, slot, parent if parent_rec is not None else None, lane, state_root)
        if seen_by:
            rec.seen_by.add(seen_by)
        if parent_rec is not None:
            parent_rec.children += 1
            self.kids.setdefault(parent_rec.root, []).append(root)
        self.blocks[root] = rec
        self.by_gauge[float(root_gauge(root))] = root
        self.emit(rec.doc())
        if parent_rec is not None and slot > parent_rec.slot + 1:
            for s in range(parent_rec.slot + 1, slot):
                self.missed.append((s, lane))
            self.emit({"type": "missed", "slots": list(range(parent_rec.slot + 1, slot)), "lane": lane})
        self.update_disagreement()
        return rec

    def _new_lane(self) -> int:
        self.lanes += 1
        return self.lanes

    def ancestors(self, root: Optional[str], limit: int = 100000) -> list[str]:
        out = []
        while root is not None and root in self.blocks and len(out) < limit:
            out.append(root)
            root = self.blocks[root].parent
        return out

    def is_ancestor(self, anc: str, root: str) -> bool:
        target = self.blocks.get(anc)
        if target is None:
            return False
        while root is not None and root in self.blocks:
            b = self.blocks[root]
            if root == anc:
                return True
            if b.slot <= target.slot:
                return False
            root = b.parent
        return False

    def common_ancestor(self, a: str, b: str) -> Optional[str]:
        while a != b:
            ra, rb = self.blocks.get(a), self.blocks.get(b)
            if ra is None or rb is None:
                return None
            if ra.slot >= rb.slot:
                if ra.parent is None:
                    return None
                a = ra.parent
            else:
                if rb.parent is None:
                    return None
                b = rb.parent
        return a

    # --- nodes -------------------------------------------------------------------------------
    def set_head(self, name: str, root: str, slot: int, state_root: Optional[str], reorg_depth: Optional[int] = None) -> None:
        """A node's new head. A head that does not extend the node's previous head is a reorg
        (whether or not the node reported chain_reorg): the abandoned blocks are marked."""
        node = self.nodes[name]
        old = node.head_root
        if old == root and (state_root is None or state_root == node.head_state):
            return
        node.head_root, node.head_slot = root, slot
        # A head on a branch marked orphaned brings that branch back.
        revived = []
        r: Optional[str] = root
        while r is not None and r in self.blocks and self.blocks[r].orphaned:
            self.blocks[r].orphaned = False
            revived.append(r)
            r = self.blocks[r].parent
        if revived:
            self.emit({"type": "mark", "roots": revived, "orphaned": False})
        if state_root is not None:
            node.head_state = state_root
        if old is not None and old != root and old in self.blocks and root in self.blocks \
                and not self.is_ancestor(old, root):
            base = self.common_ancestor(old, root)
            abandoned = []
            r = old
            while r is not None and r != base and r in self.blocks:
                abandoned.append(r)
                r = self.blocks[r].parent
            base_slot = self.blocks[base].slot if base and base in self.blocks else None
            depth = reorg_depth if reorg_depth else len(abandoned)
            node.reorgs += 1
            still_held = {n.head_root for n in self.nodes.values() if n.head_root}
            # The abandoned path, and whatever grew on top of it that the node had not made its
            # head yet, are orphaned if no node's head still builds on them.
            todo = list(abandoned)
            seen_here: set[str] = set()
            marked = []
            while todo:
                a = todo.pop()
                if a in seen_here:
                    continue
                seen_here.add(a)
                todo.extend(self.kids.get(a, ()))
                if not self.blocks[a].orphaned and \
                        not any(h in self.blocks and self.is_ancestor(a, h) for h in still_held):
                    self.blocks[a].orphaned = True
                    marked.append(a)
            if marked:
                self.emit({"type": "mark", "roots": marked, "orphaned": True})
            self.alert("reorg", f"{name}: reorg at slot {slot}, depth {depth}: head 0x{old[2:10]} "
                                f"(slot {self.blocks[old].slot}) -> 0x{root[2:10]}"
                                + (f", common ancestor at slot {base_slot}" if base_slot is not None else ""),
                       node=name, old=old, new=root, depth=depth)
        self.emit(node.doc())
        self.check_state_roots()
        self.update_disagreement()

    def set_node(self, name: str, **fields: Any) -> None:
        node = self.nodes[name]
        changed = False
        for k, v in fields.items():
            if getattr(node, k) != v:
                setattr(node, k, v)
                changed = True
        if changed:
            self.emit(node.doc())
            if "head_state" in fields:
                self.check_state_roots()

    # --- checks ------------------------------------------------------------------------------
    def alert(self, kind: str, message: str, **extra: Any) -> None:
        doc = {"type": "alert", "kind": kind, "message": message, "time": self.clock(), **extra}
        self.alerts.append(doc)
        del self.alerts[:-MAX_ALERTS]
        self.emit(doc)

    def check_state_roots(self) -> None:
        """Nodes with the same head root must report the same state root; the block claims one
        too, and the monitor's own replay makes a third."""
        by_head: dict[str, dict[str, str]] = {}
        for n in self.nodes.values():
            if n.online and n.head_root and n.head_state:
                by_head.setdefault(n.head_root, {})[n.name] = n.head_state
        for head, states in by_head.items():
            if len(set(states.values())) > 1:
                key = ("state_roots", head, tuple(sorted(states.items())))
                if key not in self._alerted:
                    self._alerted.add(key)
                    detail = ", ".join(f"{k} 0x{v[2:10]}" for k, v in sorted(states.items()))
                    self.alert("state_root", f"nodes on head 0x{head[2:10]} report different state roots: {detail}",
                               head=head, states=states)

    def update_disagreement(self) -> None:
        """Nodes disagree when their heads are on different branches. A head that is an
        ancestor of another node's head is only behind (a block still propagating)."""
        heads = {n.name: n.head_root for n in self.nodes.values() if n.online and n.head_root}
        distinct = set(heads.values())
        doc: Optional[dict[str, Any]] = None
        if len(distinct) > 1 and all(h in self.blocks for h in distinct):
            tips = [h for h in distinct if not any(o != h and self.is_ancestor(h, o) for o in distinct)]
            if len(tips) > 1:
                base: Optional[str] = tips[0]
                for r in tips[1:]:
                    base = self.common_ancestor(base, r) if base else None
                groups: dict[str, list[str]] = {}
                for name, h in heads.items():
                    tip = h if h in tips else next(t for t in tips if self.is_ancestor(h, t))
                    groups.setdefault(tip, []).append(name)
                since = self.blocks[base].slot + 1 if base else None
                doc = {"since_slot": since,
                       "groups": [{"head": h, "slot": self.blocks[h].slot, "nodes": sorted(ns)}
                                  for h, ns in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]}
        if doc != self.disagreement:
            self.disagreement = doc
            self.emit({"type": "summary", **self.summary()})

    def summary(self) -> dict[str, Any]:
        return {"disagreement": self.disagreement, "blocks": len(self.blocks), "lanes": self.lanes + 1,
                "orphaned": sum(1 for b in self.blocks.values() if b.orphaned)}

    # --- participation -------------------------------------------------------------------------
    def add_attestations(self, attestations: list[dict[str, Any]]) -> None:
        """Attestations of a block (API JSON): every (target epoch, shard, bit) set counts once."""
        touched = set()
        for att in attestations:
            epoch = int(att["data"]["target"]["epoch"])
            shard = int(att["data"]["crosslink"]["shard"])
            bits = bitlist_bits(att["aggregation_bits"])
            seen = self.attested.setdefault(epoch, set())
            for i, b in enumerate(bits):
                if b:
                    seen.add((shard, i))
            touched.add(epoch)
        if touched:
            self.emit({"type": "participation", "epochs": self.participation(sorted(touched))})

    def set_active_validators(self, count: int) -> None:
        if count != self.active_validators:
            self.active_validators = count
            self.emit({"type": "participation", "epochs": self.participation()})

    def participation(self, epochs: Optional[list[int]] = None) -> list[dict[str, Any]]:
        epochs = sorted(self.attested)[-64:] if epochs is None else epochs
        total = self.active_validators
        return [{"epoch": e, "attested": len(self.attested.get(e, ())), "active": total,
                 "rate": (len(self.attested.get(e, ())) / total) if total else None} for e in epochs]

    # --- replay ---------------------------------------------------------------------------------
    def set_replay(self, root: str, verdict: str, proposer: Optional[int]) -> None:
        rec = self.blocks.get(root)
        if rec is None:
            return
        rec.replay, rec.proposer = verdict, proposer
        self.emit({"type": "replay", "root": root, "replay": verdict, "proposer": proposer})
        if verdict.startswith(("differs", "refused")):
            self.alert("replay", f"block 0x{root[2:10]} at slot {rec.slot}: monitor replay {verdict}", root=root)


def root_gauge(root: str) -> int:
    """A root as the interop metrics show it: the signed little-endian int64 of its last 8 bytes."""
    return int.from_bytes(bytes.fromhex(root[-16:]), "little", signed=True)


def bitlist_bits(hex_ssz: str) -> list[bool]:
    """The bits of an SSZ bitlist given as 0x-hex (the highest set bit marks the length)."""
    raw = bytes.fromhex(hex_ssz[2:] if hex_ssz.startswith("0x") else hex_ssz)
    if not raw or raw[-1] == 0:
        return []
    n = (len(raw) - 1) * 8 + raw[-1].bit_length() - 1
    return [bool(raw[i // 8] >> (i % 8) & 1) for i in range(n)]
