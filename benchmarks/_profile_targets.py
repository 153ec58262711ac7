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


def range_sync(n_blocks: int, validators: int) -> Callable[[], Any]:
    """Range sync over loopback of a pre-built minimal chain (benchmarks/range_sync.py's), from
    genesis into a fresh datadir each time. The serving peer is a child process, and so is
    the signature worker: profile with --subprocesses (SUBPROCESS_TARGETS) to see all three."""
    import itertools
    import shutil
    import subprocess
    import tempfile

    import trio

    from beacon.chain import Chain
    from beacon.crypto import bls
    from beacon.p2p.service import P2PConfig, P2PService
    from beacon.p2p.testing import prebuilt_chain

    pre = prebuilt_chain(n_blocks, validators=validators)
    tmp = Path(tempfile.mkdtemp(prefix="pybeacon-flame-sync-"))
    (tmp / "server").mkdir()
    served = Chain.open(tmp / "server" / "db", pre.genesis)
    with bls.enabled(False):  # the server's copy is trusted; the syncing side checks everything
        for b in pre.decoded():
            served.import_block(b)
    last_root = served.head.root
    served.close()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("range_sync.py")), "--serve", str(tmp / "server"),
         "--blocks", str(n_blocks), "--validators", str(validators)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True)  # exits when our end of its stdin closes (this process killed)
    addr = server.stdout.readline().strip() if server.stdout else ""
    if not addr.startswith("/ip4/"):
        raise SystemExit("range sync server did not start")
    counter = itertools.count()

    def work() -> None:
        datadir = tmp / f"client-{next(counter)}"
        client = Chain.open(datadir / "db", pre.genesis)

        async def sync() -> None:
            service = P2PService(client, datadir=datadir, listen_address="127.0.0.1", port=0, static_peers=[addr],
                                 config=P2PConfig(sync_batch_size=64))
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                while client.head.root != last_root:
                    await trio.sleep(0.01)
                await service.shutdown()

        try:
            trio.run(sync)
        finally:
            client.close()
            shutil.rmtree(datadir, ignore_errors=True)

    return work


# Targets whose work runs in child processes too (py-spy --subprocesses).
SUBPROCESS_TARGETS = {"range_sync_minimal_64"}

TARGETS: dict[str, Callable[[], Callable[[], Any]]] = {
    "range_sync_minimal_64": lambda: range_sync(2000, 64),
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
