"""Fork choice: get_head with 1,024 validators voting across 1,000 blocks on several forks.

Prints the incremental get_head (proto-array weights) per call after a slot's worth of vote
changes, and the spec's get_head (get_head_naive: validators x blocks per call) as the
baseline, on 100 and 1,000 blocks, with the two heads compared.
The blocks are unsigned containers added straight to the Store: fork choice reads only
their slot and parent; the validators and balances come from a real interop genesis state.

    python benchmarks/fork_choice.py [--validators 1024] [--blocks 1000] [--forks 4]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from beacon.chain import fork_choice as fc  # noqa: E402
from beacon.config import load_config  # noqa: E402


def build_tree(store: fc.Store, t, genesis_root: bytes, n_blocks: int, n_forks: int, rng: random.Random) -> list[bytes]:
    """A trunk with n_forks - 1 side forks branching off at random trunk blocks."""
    per = n_blocks // n_forks
    roots: list[bytes] = []
    trunk: list[bytes] = []
    parent, slot = genesis_root, 0
    for i in range(per + n_blocks % n_forks):
        slot += rng.choice([1, 1, 1, 2])
        parent = _add(store, t, parent, slot, b"trunk%d" % i)
        trunk.append(parent)
    roots += trunk
    for f in range(1, n_forks):
        base = rng.choice(trunk[: len(trunk) // 2])
        parent, slot = base, store.blocks[base].slot
        for i in range(per):
            slot += rng.choice([1, 1, 2])
            parent = _add(store, t, parent, slot, b"fork%d-%d" % (f, i))
            roots.append(parent)
    return roots


def _add(store: fc.Store, t, parent: bytes, slot: int, tag: bytes) -> bytes:
    block = t.BeaconBlock(slot=slot, parent_root=parent, body=t.BeaconBlockBody(graffiti=tag.ljust(32, b"\0")))
    root = block.signing_root()
    store.blocks[root] = block
    store.proto.add_block(root, slot, parent)
    return root


def vote(store: fc.Store, validators, roots, epoch: int, rng: random.Random) -> None:
    # What on_attestation does after validation: latest messages move to a later epoch.
    for v in validators:
        fc.apply_attestation_votes(store, epoch, rng.choice(roots), [v])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--validators", type=int, default=1024)
    ap.add_argument("--blocks", type=int, default=1000)
    ap.add_argument("--forks", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--naive-blocks", type=int, nargs="*", default=[100, 1000])
    args = ap.parse_args()

    from genesis.state import create_interop_genesis_state

    cfg = load_config("minimal")
    t0 = time.perf_counter()
    genesis = create_interop_genesis_state(cfg, args.validators, 1567777777)
    print(f"genesis with {args.validators} validators: {time.perf_counter() - t0:.1f} s (setup)")
    types = genesis.types
    rng = random.Random(1)

    store = fc.get_genesis_store(genesis)
    groot = bytes(store.justified_checkpoint.root)
    roots = build_tree(store, types, groot, args.blocks, args.forks, rng)
    vote(store, range(args.validators), roots, 1, rng)
    t0 = time.perf_counter()
    fc.get_head(store)
    first = time.perf_counter() - t0
    per_slot = max(1, args.validators // cfg.SLOTS_PER_EPOCH)  # one slot's attesters
    times = []
    for r in range(args.rounds):
        vote(store, rng.sample(range(args.validators), per_slot), roots, 2 + r, rng)
        t0 = time.perf_counter()
        fc.get_head(store)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(100):
        fc.get_head(store)
    idle = (time.perf_counter() - t0) / 100
    med = statistics.median(times)
    print(f"get_head, {len(roots)} blocks on {args.forks} forks, {args.validators} validators:")
    print(f"  first call (all {args.validators} votes + balances): {first * 1e3:.2f} ms")
    print(f"  after {per_slot} vote changes: median {med * 1e3:.2f} ms, max {max(times) * 1e3:.2f} ms "
          f"over {args.rounds} rounds (target <= 10 ms: {'OK' if med <= 0.010 else 'MISSED'})")
    print(f"  no changes: {idle * 1e6:.0f} us")

    print("baseline: the spec's get_head (get_head_naive), same validators:")
    for n in args.naive_blocks:
        s = fc.get_genesis_store(genesis)
        rr = build_tree(s, types, groot, n, args.forks, random.Random(2))
        vote(s, range(args.validators), rr, 1, random.Random(3))
        t0 = time.perf_counter()
        want = fc.get_head_naive(s)
        naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = fc.get_head(s)
        fast = time.perf_counter() - t0
        assert got == want, "incremental and spec get_head disagree"
        print(f"  {n:5d} blocks: spec {naive * 1e3:9.1f} ms   incremental (first call) {fast * 1e3:6.2f} ms   "
              f"ratio {naive / max(fast, 1e-9):7.0f}x   (same head)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
