"""Workloads for the flame graphs of docs/performance.md (run by benchmarks/flamegraphs.py).

    python benchmarks/_profile_targets.py TARGET

Builds its inputs, prints READY (so the profiler attaches only to the hot loop, not the set-up),
then repeats the workload until killed.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bls_fresh_verify() -> Callable[[], Any]:
    from beacon.crypto import bls

    key = 12345678901234567890
    pk = bls.privtopub(key)
    domain = b"\x01" + b"\x00" * 7
    counter = [0]

    def work() -> None:
        # A fresh message each time: hash_to_G2 (try-and-increment, cofactor) plus the pairing.
        counter[0] += 1
        msg = counter[0].to_bytes(32, "big")
        sig = bls.sign(msg, key, domain)
        bls.clear_caches()
        bls.aggregate_pubkeys([pk])  # keep the pubkey decoded, as a node would
        assert bls.verify(pk, msg, sig, domain)

    return work


def epoch(preset: str, n: int) -> Callable[[], Any]:
    from beacon.config import load_config
    from beacon.state import shuffle
    from beacon.state.accessors import (
        get_committee_count, get_crosslink_committee, get_current_epoch, get_previous_epoch, get_start_shard,
        get_total_active_balance,
    )
    from beacon.state.epoch import process_epoch
    from beacon.state.epoch.synthetic import build_epoch_state

    state = build_epoch_state(load_config(preset), n, full=True)
    state.hash_tree_root()

    def work() -> None:
        s = state.copy()
        s._cache = None
        shuffle.clear()
        for e in (get_previous_epoch(s), get_current_epoch(s)):
            start = get_start_shard(s, e)
            for offset in range(get_committee_count(s, e)):
                get_crosslink_committee(s, e, (start + offset) % s.config.SHARD_COUNT)
        get_total_active_balance(s)
        process_epoch(s)

    return work


def block(preset: str, n: int) -> Callable[[], Any]:
    from beacon.config import load_config
    from beacon.crypto import bls
    from beacon.state import initialize_beacon_state_from_eth1, process_slots, state_transition
    from beacon.types import get_types
    from genesis.deposits import make_deposits, withdrawal_credentials
    from genesis.keys import interop_privkeys, interop_pubkeys
    from tests.state.builders import attestation_window, make_block

    cfg = load_config(preset)
    t = get_types(cfg)
    datas = [t.DepositData(pubkey=pk, withdrawal_credentials=withdrawal_credentials(cfg, pk),
                           amount=cfg.MAX_EFFECTIVE_BALANCE) for pk in interop_pubkeys(n)]
    with bls.enabled(False):
        state = initialize_beacon_state_from_eth1(b"\x42" * 32, 2**40, make_deposits(cfg, datas), cfg=cfg)
    process_slots(state, cfg.SLOTS_PER_EPOCH + 4)
    slot = state.slot + 1
    blk = make_block(state, interop_privkeys(n), slot, attestation_window(slot, cfg, cfg.SLOTS_PER_EPOCH))

    def work() -> None:
        state_transition(state.copy(), blk, validate_state_root=True)

    return work


def state_load(preset: str, n: int) -> Callable[[], Any]:
    from beacon.config import load_config
    from beacon.state.epoch.synthetic import build_epoch_state

    state = build_epoch_state(load_config(preset), n, full=True)
    data = state.serialize()
    cls = type(state)

    def work() -> None:
        cls.deserialize(data).hash_tree_root()

    return work


TARGETS: dict[str, Callable[[], Callable[[], Any]]] = {
    "bls_fresh_verify": bls_fresh_verify,
    "epoch_minimal_16384": lambda: epoch("minimal", 16384),
    "epoch_mainnet_16384": lambda: epoch("mainnet", 16384),
    "epoch_mainnet_300000": lambda: epoch("mainnet", 300000),
    "block_mainnet_16384": lambda: block("mainnet", 16384),
    "state_load_mainnet_65536": lambda: state_load("mainnet", 65536),
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in TARGETS:
        print(f"usage: _profile_targets.py {{{','.join(TARGETS)}}}", file=sys.stderr)
        return 2
    work = TARGETS[argv[0]]()
    work()  # warm-up: caches a node would have warm
    print("READY", flush=True)
    while True:
        work()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
