"""Incremental LMD-GHOST weights ("proto-array"): what makes get_head cheap.

The spec's get_head walks down from the justified root and, at every step, recomputes each
child's weight by scanning every validator's latest message and walking its ancestry
(validators x blocks per call). Here each block keeps its weight (the balance of votes for it
or any descendant), its best child and its best descendant; a vote change only adds a delta
along one path, and only the nodes on changed paths are revisited.

Equivalence with the v0.8.2 get_head (tested differentially in tests/chain):
- weight(root) = sum of balances of validators whose latest message is root or a descendant
  of it, which is what get_latest_attesting_balance computes through get_ancestor;
- among children the maximum of (weight, root) wins, ties broken by the larger root;
- children of the justified block at or below the justified epoch's start slot are ignored
  (the spec's `slot > justified_slot` filter; deeper blocks always pass it);
- a vote for a block that is not in the array (unknown or pruned) counts for nothing.

Nodes live in a list in insertion order (parents before children), so one backwards pass
applies deltas bottom-up.
"""
from __future__ import annotations

import heapq
from typing import Optional, Sequence


class ProtoArrayError(Exception):
    pass


class ProtoArray:
    __slots__ = ("roots", "slots", "parents", "weights", "children", "best_child", "best_desc", "index",
                 "_next", "_applied", "_waiting", "_balances", "_changed", "_dirty")

    def __init__(self, root: bytes, slot: int) -> None:
        self.roots: list[bytes] = []
        self.slots: list[int] = []
        self.parents: list[int] = []  # -1 for the root
        self.weights: list[int] = []
        self.children: list[list[int]] = []
        self.best_child: list[int] = []  # -1: none
        self.best_desc: list[int] = []  # the node itself when it has no children
        self.index: dict[bytes, int] = {}
        self._next: dict[int, bytes] = {}  # validator -> root of its latest message
        self._applied: dict[int, tuple[bytes, int]] = {}  # validator -> (root, balance) in the weights
        self._waiting: dict[bytes, set[int]] = {}  # unknown root -> validators voting for it
        self._balances: list[int] = []  # justified balances by validator index
        self._changed: set[int] = set()  # validators whose applied vote may be stale
        self._dirty: set[int] = set()  # nodes whose best child must be recomputed
        self._append(root, slot, -1)

    # --- structure --------------------------------------------------------------------------
    def __contains__(self, root: bytes) -> bool:
        return root in self.index

    def __len__(self) -> int:
        return len(self.roots)

    def _append(self, root: bytes, slot: int, parent: int) -> int:
        i = len(self.roots)
        self.roots.append(root)
        self.slots.append(slot)
        self.parents.append(parent)
        self.weights.append(0)
        self.children.append([])
        self.best_child.append(-1)
        self.best_desc.append(i)
        self.index[root] = i
        return i

    def add_block(self, root: bytes, slot: int, parent_root: bytes) -> None:
        """Add a block whose parent is known. Votes already cast for it start counting."""
        if root in self.index:
            return
        parent = self.index.get(parent_root)
        if parent is None:
            raise ProtoArrayError(f"parent 0x{parent_root.hex()[:16]} of block 0x{root.hex()[:16]} is not in fork choice")
        if slot <= self.slots[parent]:
            raise ProtoArrayError(f"block at slot {slot} is not after its parent's slot {self.slots[parent]}")
        i = self._append(root, slot, parent)
        self.children[parent].append(i)
        self._dirty.add(parent)
        waiting = self._waiting.pop(root, None)
        if waiting:
            self._changed |= waiting

    def process_vote(self, validator: int, root: bytes) -> None:
        """The validator's latest message now points at root (the caller applies the epoch rule)."""
        if self._next.get(validator) != root:
            self._next[validator] = root
            self._changed.add(validator)

    def votes(self) -> dict[int, bytes]:
        return dict(self._next)

    # --- weights ------------------------------------------------------------------------------
    def apply_changes(self, balances: Optional[Sequence[int]] = None) -> None:
        """Fold changed votes (and new justified balances, if given) into weights and best children."""
        if balances is not None and list(balances) != self._balances:
            self._balances = list(balances)
            self._changed.update(self._next)  # every vote's weight may differ now
        if self._changed:
            deltas: dict[int, int] = {}
            index, bal = self.index, self._balances
            nbal = len(bal)
            for v in self._changed:
                old = self._applied.pop(v, None)
                if old is not None:
                    i = index[old[0]]
                    deltas[i] = deltas.get(i, 0) - old[1]
                root = self._next.get(v)
                if root is None:
                    continue
                j = index.get(root)
                if j is None:
                    self._waiting.setdefault(root, set()).add(v)
                    continue
                b = bal[v] if v < nbal else 0
                if b:
                    deltas[j] = deltas.get(j, 0) + b
                    self._applied[v] = (root, b)
            self._changed.clear()
            if deltas:
                self._propagate(deltas)
        self._update_best()

    def _propagate(self, deltas: dict[int, int]) -> None:
        # Children come after parents in the list: visiting changed nodes from the highest
        # index down and pushing each delta to the parent adds every delta to every ancestor.
        parents, weights, dirty = self.parents, self.weights, self._dirty
        pending = dict(deltas)
        heap = [-i for i in pending]
        heapq.heapify(heap)
        while heap:
            i = -heapq.heappop(heap)
            d = pending.pop(i)
            if d == 0:
                continue
            weights[i] += d
            p = parents[i]
            if p >= 0:
                dirty.add(p)  # p's choice among its children may change
                if p in pending:
                    pending[p] += d
                else:
                    pending[p] = d
                    heapq.heappush(heap, -p)

    def _update_best(self) -> None:
        """Recompute best child/descendant of dirty nodes and, where that changed, of their ancestors."""
        if not self._dirty:
            return
        roots, weights, children = self.roots, self.weights, self.children
        best_child, best_desc, parents = self.best_child, self.best_desc, self.parents
        heap = [-i for i in self._dirty]
        heapq.heapify(heap)
        queued = set(self._dirty)
        self._dirty = set()
        while heap:
            i = -heapq.heappop(heap)
            kids = children[i]
            if kids:
                c = max(kids, key=lambda k: (weights[k], roots[k])) if len(kids) > 1 else kids[0]
                d = best_desc[c]
            else:
                c, d = -1, i
            if c != best_child[i] or d != best_desc[i]:
                best_child[i] = c
                best_desc[i] = d
                p = parents[i]
                if p >= 0 and p not in queued:
                    queued.add(p)
                    heapq.heappush(heap, -p)

    # --- queries ------------------------------------------------------------------------------
    def find_head(self, justified_root: bytes, justified_slot: int) -> bytes:
        """The spec's get_head from the justified root (apply_changes first)."""
        j = self.index.get(justified_root)
        if j is None:
            raise ProtoArrayError(f"justified root 0x{justified_root.hex()[:16]} is not in fork choice")
        best = self.best_child[j]
        if best >= 0 and self.slots[best] <= justified_slot:
            # The spec skips children at or below the justified slot: choose among the rest.
            kids = [k for k in self.children[j] if self.slots[k] > justified_slot]
            if not kids:
                return justified_root
            best = max(kids, key=lambda k: (self.weights[k], self.roots[k]))
        if best < 0:
            return justified_root
        return self.roots[self.best_desc[best]]

    def weight(self, root: bytes) -> int:
        return self.weights[self.index[root]]

    def is_descendant(self, ancestor: bytes, root: bytes) -> bool:
        a = self.index.get(ancestor)
        i = self.index.get(root)
        if a is None or i is None:
            return False
        slot = self.slots[a]
        while i >= 0 and self.slots[i] > slot:
            i = self.parents[i]
        return i == a

    def ancestor_at_slot(self, root: bytes, slot: int) -> Optional[bytes]:
        """get_ancestor semantics: the ancestor at exactly `slot`, None if there is no block there."""
        i = self.index.get(root)
        if i is None:
            return None
        while i >= 0 and self.slots[i] > slot:
            i = self.parents[i]
        if i >= 0 and self.slots[i] == slot:
            return self.roots[i]
        return None

    # --- pruning ------------------------------------------------------------------------------
    def prune(self, finalized_root: bytes) -> list[bytes]:
        """Keep only the finalized block and its descendants; return the roots removed."""
        f = self.index.get(finalized_root)
        if f is None:
            raise ProtoArrayError(f"finalized root 0x{finalized_root.hex()[:16]} is not in fork choice")
        if f == 0:
            return []
        self.apply_changes()
        keep = [False] * len(self.roots)
        keep[f] = True
        for i in range(f + 1, len(self.roots)):
            p = self.parents[i]
            keep[i] = p >= 0 and keep[p]
        removed = [r for i, r in enumerate(self.roots) if not keep[i]]
        remap: dict[int, int] = {}
        fields = (self.roots, self.slots, self.parents, self.weights, self.best_child, self.best_desc)
        new = [[] for _ in fields]  # type: list[list]
        for i in range(len(self.roots)):
            if keep[i]:
                remap[i] = len(new[0])
                for lst, src in zip(new, fields):
                    lst.append(src[i])
        self.roots, self.slots, parents, self.weights, best_child, best_desc = new
        self.parents = [remap.get(p, -1) for p in parents]
        self.best_child = [remap.get(c, -1) for c in best_child]
        self.best_desc = [remap[d] for d in best_desc]
        self.children = [[] for _ in self.roots]
        for i, p in enumerate(self.parents):
            if p >= 0:
                self.children[p].append(i)
        self.index = {r: i for i, r in enumerate(self.roots)}
        self._dirty = {remap[i] for i in self._dirty if i in remap}
        # Votes on removed blocks carried weight only into removed ancestors (every ancestor of
        # a removed block is removed too), so dropping their "applied" mark keeps weights exact.
        gone = set(removed)
        for v in [v for v, (r, _) in self._applied.items() if r in gone]:
            del self._applied[v]
        for r in [r for r in self._waiting if r in gone]:
            del self._waiting[r]
        return removed
