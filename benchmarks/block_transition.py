"""Block benchmark: state_transition of a full block (MAX_ATTESTATIONS signed attestations)
on an interop state of N validators, with and without BLS.

    python benchmarks/block_transition.py [--preset mainnet|minimal] [--validators N] [--repeat R]

The state: interop pubkeys (genesis.keys), genesis through the spec's
initialize_beacon_state_from_eth1 with unsigned deposits under BLS off (the deposit
signatures are not what is measured), then empty slots into epoch 1. The block: attestations
of every committee of the last SLOTS_PER_EPOCH slots (up to MAX_ATTESTATIONS), each signed with
the sum of its members' keys. Reported (median of R, fresh caches are NOT forced: a node
processes many blocks per epoch, so the committee caches are warm after the first):
  cold      first state_transition on the state (shuffles computed, pubkeys decompressed)
  bls on    state_transition, signatures batch-verified
  bls off   state_transition with verification switched off (what the state code costs)
  copy      state.copy() alone (state_transition works on a copy for atomicity)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable without installing

from beacon.config import load_config  # noqa: E402
from beacon.crypto import bls  # noqa: E402
from beacon.state import initialize_beacon_state_from_eth1, process_slots, state_transition  # noqa: E402
from beacon.types import get_types  # noqa: E402
from genesis.deposits import make_deposits, withdrawal_credentials  # noqa: E402
from genesis.keys import interop_privkeys, interop_pubkeys  # noqa: E402
from tests.state.builders import attestation_window, make_block  # noqa: E402


def build_state(preset: str, n: int):
    cfg = load_config(preset)
    t = get_types(cfg)
    pubkeys = interop_pubkeys(n)
    datas = [t.DepositData(pubkey=pk, withdrawal_credentials=withdrawal_credentials(cfg, pk),
                           amount=cfg.MAX_EFFECTIVE_BALANCE) for pk in pubkeys]
    with bls.enabled(False):
        state = initialize_beacon_state_from_eth1(b"\x42" * 32, 2**40, make_deposits(cfg, datas), cfg=cfg)
    return state


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mainnet")
    ap.add_argument("--validators", type=int, default=16384)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    t0 = time.perf_counter()
    state = build_state(args.preset, args.validators)
    cfg = state.config
    print(f"genesis ({args.validators} validators, {args.preset}, BLS off): {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    process_slots(state, cfg.SLOTS_PER_EPOCH + 4)
    print(f"empty slots to {state.slot} (one epoch transition): {time.perf_counter() - t0:.1f}s")
    privkeys = interop_privkeys(args.validators)
    slot = state.slot + 1
    t0 = time.perf_counter()
    block = make_block(state, privkeys, slot, attestation_window(slot, cfg, cfg.SLOTS_PER_EPOCH))
    n_att = len(block.body.attestations)
    members = sum(len(a.aggregation_bits) for a in block.body.attestations)
    print(f"block at slot {slot}: {n_att} attestations, {members} attesters (built in {time.perf_counter() - t0:.1f}s)")

    def run(enabled: bool) -> float:
        work = state.copy()
        with bls.enabled(enabled):
            t = time.perf_counter()
            state_transition(work, block, validate_state_root=True)
            return time.perf_counter() - t

    print(f"cold      {run(True) * 1000:8.1f} ms")
    on = [run(True) for _ in range(args.repeat)]
    off = [run(False) for _ in range(args.repeat)]
    copies = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        state.copy()
        copies.append(time.perf_counter() - t)
    for name, xs in (("bls on", on), ("bls off", off), ("copy", copies)):
        print(f"{name:9} {statistics.median(xs) * 1000:8.1f} ms (best {min(xs) * 1000:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
