"""BLS benchmark: both backends in one run, so the fast/py_ecc ratios are like for like.

    python benchmarks/bls.py [--quick]

Reports median (and best) wall time per call. "warm" = pubkeys and hash_to_G2 already in the
caches (the steady state for a chain re-verifying known validators); "cold hash" = a fresh
message every call, so hash_to_G2 (try-and-increment + cofactor multiplication) is paid.
--quick skips the slowest py_ecc case (verify_multiple with 64 pubkeys).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

# Runnable without installing; a baseline child imports the tree it is given instead.
sys.path.insert(0, os.environ.get("PYBEACON_BENCH_TREE", str(Path(__file__).resolve().parents[1])))

from beacon.crypto import bls  # noqa: E402

DOMAIN = bytes.fromhex("0100000000000000")
TARGET_VERIFY_MS = 3.0
TARGET_RATIO = 100.0


CPU: Dict[str, float] = {}  # median process CPU time of the last timeit, by label


def timeit(fn: Callable[[int], object], n: int) -> Tuple[float, float]:
    """(median, best) seconds over n calls; fn gets the call index (for fresh inputs).
    The median CPU time of the calls is left in CPU["last"] (less disturbed by others' load)."""
    times, cpu = [], []
    for i in range(n):
        t, c = time.perf_counter(), time.process_time()
        fn(i)
        cpu.append(time.process_time() - c)
        times.append(time.perf_counter() - t)
    CPU["last"] = statistics.median(cpu)
    return statistics.median(times), min(times)


_counter = [0]


def fresh_msg() -> bytes:
    _counter[0] += 1
    return _counter[0].to_bytes(8, "big") * 4


def ms(t: float) -> str:
    return f"{t * 1e3:9.3f} ms"


def bench_backend(name: str, quick: bool) -> Dict[str, float]:
    res: Dict[str, float] = {}
    slow = name == "py_ecc"
    n = 3 if slow else 50
    with bls.use_backend(name):
        bls.clear_caches()
        # Full-size keys: small ones would make the scalar multiplications unrealistically cheap.
        keys = [int.from_bytes(bytes([i + 1]) * 32, "big") % bls.CURVE_ORDER for i in range(64)]
        pubkeys = [bls.privtopub(k) for k in keys]
        msgs = [bytes([i]) * 32 for i in range(64)]

        def line(label: str, key: str, t: Tuple[float, float]) -> None:
            res[key], res[key + "_best"], res[key + "_cpu"] = t[0], t[1], CPU["last"]
            print(f"  {name:7s} {label:44s} {ms(t[0])}  (best {ms(t[1])})")

        line("hash_to_G2 cold", "hash_cold", timeit(lambda i: bls.hash_to_G2_compressed(fresh_msg(), DOMAIN), n))
        m0 = msgs[0]
        bls.hash_to_G2_compressed(m0, DOMAIN)
        line("hash_to_G2 cached", "hash_warm", timeit(lambda i: bls.hash_to_G2_compressed(m0, DOMAIN), n))
        line("privtopub", "privtopub", timeit(lambda i: bls.privtopub(keys[i % 64] ^ 0xABCDEF), n))
        line("sign (hash cached)", "sign", timeit(lambda i: bls.sign(m0, keys[i % 64], DOMAIN), n))

        sig = bls.sign(m0, keys[0], DOMAIN)
        assert bls.verify(pubkeys[0], m0, sig, DOMAIN)
        line("verify (warm)", "verify", timeit(lambda i: bls.verify(pubkeys[0], m0, sig, DOMAIN), n))

        cold = [(m, bls.sign(m, keys[0], DOMAIN)) for m in (fresh_msg() for _ in range(n))]
        bls.clear_caches()  # signing above cached these hashes; drop them...
        bls.aggregate_pubkeys([pubkeys[0]])  # ...but keep the pubkey decoded, as in a chain
        line("verify (cold hash: fresh message)", "verify_cold",
             timeit(lambda i: bls.verify(pubkeys[0], cold[i][0], cold[i][1], DOMAIN), n))
        if not slow:
            # Same-run baseline: the fast backend as it was before the psi method: the plain
            # 507-bit cofactor product (as v0.8.2 writes it) cached and paired with -g.
            from functools import lru_cache

            from beacon.crypto import _bls_fast
            from beacon.crypto._bls_common import hash_to_G2_lift

            be = bls._backend
            saved = be._hash_cached
            be._hash_cached = lru_cache(maxsize=1024)(
                lambda m, d: _bls_fast._clear_cofactor_plain(hash_to_G2_lift(m, d, _bls_fast._lift)))
            be.pairing_neg_generator = be.neg_g1_generator
            be.hash_to_g2 = be.pairing_hash
            try:
                bls.aggregate_pubkeys([pubkeys[0]])
                line("  baseline: verify cold, plain cofactor product", "verify_cold_plain",
                     timeit(lambda i: bls.verify(pubkeys[0], cold[i][0], cold[i][1], DOMAIN), n))
                line("  baseline: hash_to_G2 cold, plain product", "hash_cold_plain",
                     timeit(lambda i: bls.hash_to_G2_compressed(fresh_msg(), DOMAIN), n))
            finally:
                be._hash_cached = saved
                del be.pairing_neg_generator, be.hash_to_g2
                bls.clear_caches()

        for count in (4, 64):
            if slow and quick and count == 64:
                continue
            agg = bls.aggregate_signatures([bls.sign(m, k, DOMAIN) for m, k in zip(msgs[:count], keys)])
            assert bls.verify_multiple(pubkeys[:count], msgs[:count], agg, DOMAIN)
            line(f"verify_multiple {count} pubkeys (warm)", f"vm{count}",
                 timeit(lambda i: bls.verify_multiple(pubkeys[:count], msgs[:count], agg, DOMAIN), 1 if slow else 10))

        if not slow:
            # The floor under verify: the library's 2-pair pairing check on decoded points.
            from py_arkworks_bls12381 import GT, G1Point, G2Point

            g1s, g2s = [G1Point(), -G1Point()], [G2Point(), G2Point()]
            line("  arkworks pairing_check, 2 pairs", "pairing2_ark",
                 timeit(lambda i: GT.pairing_check(g1s, g2s), n))
            # The floor under verify now: blst's two Miller loops and final exponentiation.
            from pyblst import BlstP1Element, BlstP2Element, final_verify, miller_loop

            b1 = BlstP1Element.uncompress(bytes(G1Point().to_compressed_bytes()))
            b2 = BlstP2Element.uncompress(bytes(G2Point().to_compressed_bytes()))
            line("  floor: blst 2 Miller loops + final exp", "pairing2",
                 timeit(lambda i: final_verify(miller_loop(b1, b2), miller_loop(b1, b2)), n))
            # Batch: 64 independent single-signature sets, one multi-pairing vs 64 verifies.
            sets = [bls.SignatureSet.single(pubkeys[i], msgs[i], bls.sign(msgs[i], keys[i], DOMAIN), DOMAIN)
                    for i in range(64)]
            assert bls.verify_batch(sets)
            tb = timeit(lambda i: bls.verify_batch(sets), 5)
            line("verify_batch 64 single sets (per set)", "batch_per_set", (tb[0] / 64, tb[1] / 64))
            ti = timeit(lambda i: [bls.verify(s.signers[0][0], s.message_hashes[0], s.signature, DOMAIN)
                                   for s in sets], 5)
            line("  vs 64 x verify (per set)", "single_per_set", (ti[0] / 64, ti[1] / 64))
            # Aggregate pubkeys (a committee of 64) with a warm decoded-pubkey cache.
            line("aggregate_pubkeys 64 (warm cache)", "aggpk64",
                 timeit(lambda i: bls.aggregate_pubkeys(pubkeys), 20))
    return res


def bench_milagro() -> None:
    """Where milagro_bls_binding agrees with v0.8.2, is it faster than the fast backend?"""
    import milagro_bls_binding as milagro

    keys = [int.from_bytes(bytes([i + 1]) * 32, "big") % bls.CURVE_ORDER for i in range(64)]
    pubkeys = [bls.privtopub(k) for k in keys]
    print("  milagro comparison (why bls does not call it):")
    with bls.use_backend("fast"):
        a = timeit(lambda i: milagro.SkToPk(keys[i % 64].to_bytes(32, "big")), 50)
        b = timeit(lambda i: bls.privtopub(keys[i % 64]), 50)
        print(f"    SkToPk              milagro {ms(a[0])}   fast privtopub     {ms(b[0])}")
        c = timeit(lambda i: milagro._AggregatePKs(pubkeys), 10)
        bls.clear_caches()
        d = timeit(lambda i: (bls.clear_caches(), bls.aggregate_pubkeys(pubkeys)), 10)
        e = timeit(lambda i: bls.aggregate_pubkeys(pubkeys), 10)
        print(f"    aggregate 64 pks    milagro {ms(c[0])}   fast cold {ms(d[0])}   fast warm {ms(e[0])}")


def interleaved_verify_ratio(rounds: int = 5) -> Tuple[float, float, float]:
    """py_ecc/fast verify ratio with the two measured back to back, round after round.

    The machine is shared, so load can change between the per-backend sections above; a
    ratio from adjacent measurements is the robust one. Returns (ratio, fast s, py_ecc s).
    """
    key = int.from_bytes(b"\x07" * 32, "big") % bls.CURVE_ORDER
    msg = b"\x07" * 32
    pk, sig = bls.privtopub(key), bls.sign(msg, key, DOMAIN)
    ratios, fasts, slows = [], [], []
    for _ in range(rounds):
        with bls.use_backend("fast"):
            f = timeit(lambda i: bls.verify(pk, msg, sig, DOMAIN), 20)[0]
        with bls.use_backend("py_ecc"):
            p = timeit(lambda i: bls.verify(pk, msg, sig, DOMAIN), 1)[0]
        ratios.append(p / f)
        fasts.append(f)
        slows.append(p)
    return statistics.median(ratios), statistics.median(fasts), statistics.median(slows)


def fresh_verify_child(n: int = 60) -> Dict[str, float]:
    """Fresh-message verify of the tree on PYTHONPATH (a baseline revision's, in a child)."""
    key = int.from_bytes(b"\x05" * 32, "big") % bls.CURVE_ORDER
    pk = bls.privtopub(key)
    cases = [(m, bls.sign(m, key, DOMAIN)) for m in (fresh_msg() for _ in range(n))]
    bls.clear_caches()
    bls.aggregate_pubkeys([pk])  # the pubkey stays decoded, as in a chain
    t = timeit(lambda i: bls.verify(pk, cases[i][0], cases[i][1], DOMAIN), n)
    return {"median": t[0], "best": t[1], "cpu": CPU["last"]}


def revision_baselines() -> List[Tuple[str, Dict[str, float]]]:
    """Fresh verify of the baseline revision (issue 14's) and of main before the blst change,
    each in a child process right after this tree's figures (same load)."""
    import json
    import subprocess

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _baseline import baseline_rev, baseline_tree

    out = []
    for rev in (baseline_rev(), "c6a1365"):
        tree = baseline_tree(rev) if rev else None
        if tree is None:
            continue
        proc = subprocess.run([sys.executable, __file__, "--child-fresh"], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(tree), "PYBEACON_BENCH_TREE": str(tree)}, timeout=600)
        if proc.returncode == 0:
            out.append((rev, json.loads(proc.stdout.strip().splitlines()[-1])))
        else:
            print(f"  baseline {rev} failed: {proc.stderr[-500:]}")
    return out


def main(argv: List[str]) -> int:
    if "--child-fresh" in argv:
        import json

        print(json.dumps(fresh_verify_child()))
        return 0
    quick = "--quick" in argv
    print("BLS (spec v0.8.2) benchmark; median per call")
    results = {name: bench_backend(name, quick) for name in ("fast", "py_ecc")}
    bench_milagro()
    f, p = results["fast"], results["py_ecc"]
    print("  fast / py_ecc speed-up:")
    for key, label in [("verify", "verify (warm)"), ("verify_cold", "verify (cold)"),
                       ("vm4", "verify_multiple 4"), ("vm64", "verify_multiple 64"),
                       ("hash_cold", "hash_to_G2 cold"), ("sign", "sign")]:
        if key in f and key in p:
            print(f"    {label:22s} {p[key] / f[key]:8.0f}x")
    ratio, tf, tp = interleaved_verify_ratio()
    print(f"  interleaved verify (warm): fast {ms(tf)}  py_ecc {ms(tp)}  ratio {ratio:.0f}x")
    ok_time = f["verify"] * 1e3 <= TARGET_VERIFY_MS
    ok_ratio = ratio >= TARGET_RATIO
    print(f"  target: fast verify <= {TARGET_VERIFY_MS} ms: {'met' if ok_time else 'MISSED'} "
          f"({f['verify'] * 1e3:.2f} ms warm, {f['verify_cold'] * 1e3:.2f} ms cold hash); "
          f">= {TARGET_RATIO:.0f}x py_ecc (interleaved): {'met' if ok_ratio else 'MISSED'} ({ratio:.0f}x)")
    print(f"result: bls_verify_fresh_message {f['verify_cold'] * 1e3:.3f} ms")
    print(f"result: bls_verify_fresh_message_baseline_plain_cofactor {f['verify_cold_plain'] * 1e3:.3f} ms")
    # Best of n as well: on a shared machine the median carries other people's load.
    print(f"result: bls_verify_fresh_message_cpu {f['verify_cold_cpu'] * 1e3:.3f} ms")
    print(f"result: bls_verify_fresh_message_cpu_baseline_plain_cofactor {f['verify_cold_plain_cpu'] * 1e3:.3f} ms")
    print(f"result: bls_verify_fresh_message_best {f['verify_cold_best'] * 1e3:.3f} ms")
    print(f"result: bls_verify_fresh_message_best_baseline_plain_cofactor {f['verify_cold_plain_best'] * 1e3:.3f} ms")
    for rev, r in revision_baselines():
        print(f"  baseline {rev}: fresh verify {ms(r['median'])} (best {ms(r['best'])}, CPU {ms(r['cpu'])})")
        print(f"result: bls_verify_fresh_message_cpu_baseline_{rev} {r['cpu'] * 1e3:.3f} ms")
        print(f"result: bls_verify_fresh_message_best_baseline_{rev} {r['best'] * 1e3:.3f} ms")
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    print(f"result: bls_hash_to_G2_fresh {f['hash_cold'] * 1e3:.3f} ms")
    print(f"result: bls_hash_to_G2_fresh_baseline_plain_cofactor {f['hash_cold_plain'] * 1e3:.3f} ms")
    print(f"result: bls_verify_cached_hash {f['verify'] * 1e3:.3f} ms")
    print(f"result: bls_pairing_check_2_pairs_arkworks {f['pairing2_ark_cpu'] * 1e3:.3f} ms")
    print(f"result: bls_pairing_check_2_pairs_floor {f['pairing2'] * 1e3:.3f} ms")
    print(f"result: bls_pairing_check_2_pairs_floor_cpu {f['pairing2_cpu'] * 1e3:.3f} ms")
    print(f"result: bls_verify_batch_per_set_64 {f['batch_per_set'] * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
