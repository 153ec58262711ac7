"""hash_tree_root of a BeaconState with 16,384 validators: cold, after one change, after all balances.

Baseline: py-ssz 0.6 (ssz.get_hash_tree_root over the same value, tuples and its own caches).
Run: python benchmarks/ssz_state.py [N]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ssz as pyssz  # noqa: E402

from beacon.config import load_config  # noqa: E402
from beacon.types import get_types  # noqa: E402
from beacon.ssz.pyssz import sedes_of, value_of  # noqa: E402


def build_state(preset: str, n: int):  # type: ignore[no-untyped-def]
    cfg = load_config(preset)
    t = get_types(cfg)
    state = t.BeaconState(genesis_time=1567777777)
    for i in range(n):
        state.validators.append(t.Validator(pubkey=(i + 1).to_bytes(48, "little"), effective_balance=cfg.MAX_EFFECTIVE_BALANCE,
                                            exit_epoch=cfg.FAR_FUTURE_EPOCH, withdrawable_epoch=cfg.FAR_FUTURE_EPOCH))
        state.balances.append(cfg.MAX_EFFECTIVE_BALANCE)
    return t, state


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 16384
    for preset in ("minimal", "mainnet"):
        t, state = build_state(preset, n)
        fresh = t.BeaconState.deserialize(state.serialize())
        root, cold = timed(fresh.hash_tree_root)
        state.validators[n // 2].slashed = True
        fresh.validators[n // 2].slashed = True
        _, one = timed(fresh.hash_tree_root)
        fresh.slot += 1
        _, field = timed(fresh.hash_tree_root)
        fresh.balances.set_all([b - 1 for b in fresh.balances])
        _, balances = timed(fresh.hash_tree_root)
        _, copy = timed(fresh.copy)

        sedes = sedes_of(t.BeaconState)
        value = value_of(t.BeaconState, state)
        base_root, base_cold = timed(lambda: pyssz.get_hash_tree_root(value, sedes))
        assert base_root == state.hash_tree_root(), "py-ssz and pybeacon disagree"
        print(f"{preset:8s} N={n}: cold {cold * 1e3:8.1f} ms (py-ssz {base_cold * 1e3:8.1f} ms, {base_cold / cold:5.1f}x) | "
              f"one validator changed {one * 1e3:6.2f} ms | slot changed {field * 1e3:6.2f} ms | "
              f"all balances changed {balances * 1e3:6.2f} ms | state copy {copy * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
