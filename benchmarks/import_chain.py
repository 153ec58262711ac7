"""Block import throughput: a pre-built minimal chain of 1,000 real signed blocks, full BLS.

The chain (interop validators, every block carrying the previous slot's attestations with
full participation, so it justifies and finalizes as it goes) is built first and not timed;
then a fresh Chain on a fresh LevelDB datadir imports it block by block through the whole
pipeline (checks, state transition with all signatures verified and the state root checked,
one write batch per block, fork choice, pruning at finality).

    python benchmarks/import_chain.py [--blocks 1000] [--validators 64]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from beacon.config import load_config  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=1000)
    ap.add_argument("--validators", type=int, default=64)
    args = ap.parse_args()

    from beacon.chain.service import Chain, Status
    from beacon.chain.testing import ChainBuilder
    from beacon.crypto import bls
    from genesis.state import create_interop_genesis_state

    cfg = load_config("minimal")
    genesis = create_interop_genesis_state(cfg, args.validators, 1567777777)
    t0 = time.perf_counter()
    builder = ChainBuilder(genesis)
    roots = builder.extend(builder.genesis_root, 1, args.blocks + 1)
    blocks = [builder.blocks[r] for r in roots]
    final = builder.states[roots[-1]]
    print(f"built {len(blocks)} blocks, {args.validators} validators (minimal preset): "
          f"{time.perf_counter() - t0:.1f} s (setup, not timed); finalized epoch {final.finalized_checkpoint.epoch}")
    del builder  # the importer must not lean on the builder's states

    now = genesis.genesis_time + (args.blocks + 2) * cfg.SECONDS_PER_SLOT
    assert bls.is_bls_enabled() and bls.get_backend() == "fast", "benchmark wants full BLS on the fast backend"
    with tempfile.TemporaryDirectory() as d:
        chain = Chain.open(d, genesis, clock=lambda: now)
        t0 = time.perf_counter()
        marks = []
        for i, block in enumerate(blocks, 1):
            res = chain.import_block(block)
            if res.status is not Status.IMPORTED:
                print(f"block {i} not imported: {res.status.value} {res.reason}")
                return 1
            if i % 250 == 0:
                marks.append((i, time.perf_counter() - t0))
        total = time.perf_counter() - t0
        assert chain.head.root == roots[-1]
        fin = chain.finalized_checkpoint.epoch
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(d) for f in fs)
        chain.close()
    print(f"imported {len(blocks)} blocks in {total:.1f} s: {len(blocks) / total:.1f} blocks/s "
          f"({total / len(blocks) * 1e3:.1f} ms/block), full BLS, state roots checked; finalized epoch {fin}; "
          f"datadir {size / 1e6:.1f} MB")
    prev_i, prev_t = 0, 0.0
    for i, t in marks:
        print(f"  blocks {prev_i + 1:4d}-{i:4d}: {(i - prev_i) / (t - prev_t):.1f} blocks/s")
        prev_i, prev_t = i, t

    # Baseline: the bare state transition over the same blocks (full BLS, state roots checked),
    # without checks, storage or fork choice: what the pipeline adds on top of it.
    from beacon.state.slots import apply_block

    state = genesis
    t0 = time.perf_counter()
    for block in blocks:
        state = apply_block(state, block, validate_state_root=True)
    bare = time.perf_counter() - t0
    print(f"baseline, bare apply_block over the same blocks: {len(blocks) / bare:.1f} blocks/s "
          f"({bare / len(blocks) * 1e3:.1f} ms/block); pipeline overhead {(total - bare) / len(blocks) * 1e3:.1f} ms/block")
    return 0


if __name__ == "__main__":
    sys.exit(main())
