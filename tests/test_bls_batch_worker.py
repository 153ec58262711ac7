"""beacon.crypto.batch: signature batches checked in a worker process, split with the caller."""
from __future__ import annotations

import os
import signal

import pytest

from beacon.crypto import bls
from beacon.crypto.batch import BatchVerifier

DOMAIN = b"\x01\x00\x00\x00\x00\x00\x00\x00"


def _sets(n: int) -> list[bls.SignatureSet]:
    out = []
    for i in range(n):
        sk = 1000 + i
        msg = i.to_bytes(32, "little")
        out.append(bls.SignatureSet.single(bls.privtopub(sk), msg, bls.sign(msg, sk, DOMAIN), DOMAIN))
    return out


@pytest.fixture
def verifier():
    v = BatchVerifier(use_worker=True, min_sets=1)
    assert v.wait_ready()
    yield v
    v.close()


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_one_bad_set_fails_the_batch_wherever_it_lands(verifier: BatchVerifier, share: float) -> None:
    """The worker's part is the first sets, the caller's the last ones: a bad set in either
    part fails the whole batch."""
    sets = _sets(6)
    verifier.local_share = share
    assert verifier.verify(sets) is True
    for bad in (0, 5):
        tampered = list(sets)
        other = sets[(bad + 1) % 6]
        tampered[bad] = bls.SignatureSet.single(sets[bad].signers[0][0], sets[bad].message_hashes[0], other.signature,
                                                DOMAIN)
        verifier.local_share = share
        verifier._cycle_cpu = None  # no rebalancing between these calls
        assert verifier.verify(tampered) is False
    assert verifier.batches == 3


def test_worker_death_costs_speed_not_the_verdict(verifier: BatchVerifier) -> None:
    sets = _sets(3)
    assert verifier.verify(sets) is True
    pid = verifier._pool.submit(os.getpid).result()  # type: ignore[union-attr]
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    bad = list(sets)
    bad[1] = bls.SignatureSet.single(sets[1].signers[0][0], sets[1].message_hashes[0], sets[2].signature, DOMAIN)
    assert verifier.verify(bad) is False  # checked in-process now
    assert verifier.verify(sets) is True
    assert verifier._failed


def test_bls_switched_off_is_honoured(verifier: BatchVerifier) -> None:
    sets = _sets(2)
    bad = [bls.SignatureSet.single(sets[0].signers[0][0], sets[0].message_hashes[0], sets[1].signature, DOMAIN)]
    with bls.enabled(False):
        assert verifier.verify(bad) is True
    assert verifier.verify(bad) is False


def test_empty_signer_groups_are_dropped_without_changing_verdicts(verifier: BatchVerifier) -> None:
    """An attestation's custody-bit-1 group is empty: its pair is dropped (e(O, H) = 1, in
    bls.verify_batch), and the verdict through the worker is the one of the full set, for good
    and bad signatures alike."""
    good = _sets(2)
    m0, m1 = b"\x00" * 32, b"\x01" * 32
    sset = bls.SignatureSet.grouped([good[0].signers[0], []], [good[0].message_hashes[0], m1], good[0].signature,
                                    DOMAIN)
    assert bls.verify_batch([sset]) is True
    assert verifier.verify([sset, good[1]]) is True
    bad = bls.SignatureSet.grouped([good[0].signers[0], []], [good[0].message_hashes[0], m1], good[1].signature, DOMAIN)
    assert verifier.verify([bad, good[1]]) is False
    # A malformed message hash keeps its pair, so the set still fails as the spec's call would.
    malformed = bls.SignatureSet.grouped([good[0].signers[0], []], [good[0].message_hashes[0], m0[:31]],
                                         good[0].signature, DOMAIN)
    assert verifier.verify([malformed]) is False


def test_worker_leaves_when_its_parent_is_killed(tmp_path) -> None:
    """A node killed with SIGKILL cannot stop its worker: the worker notices and exits."""
    import subprocess
    import sys
    import time

    script = ("import os, sys\n"
              "from beacon.crypto.batch import BatchVerifier\n"
              "v = BatchVerifier(use_worker=True, min_sets=1)\n"
              "print(v._get_pool().submit(os.getpid).result(), flush=True)\n"
              "sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        worker = int(proc.stdout.readline())  # type: ignore[union-attr]
        assert os.path.exists(f"/proc/{worker}")
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{worker}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{worker}"), "the orphaned worker is still running"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_small_batches_stay_in_the_calling_thread() -> None:
    """A block or two (gossip, parent lookups) never starts the worker process."""
    v = BatchVerifier(use_worker=True)
    try:
        sets = _sets(3)
        assert v.verify(sets) is True
        bad = [sets[0], bls.SignatureSet.single(sets[1].signers[0][0], sets[1].message_hashes[0], sets[2].signature,
                                                DOMAIN)]
        assert v.verify(bad) is False
        assert v._pool is None and v.batches == 0
    finally:
        v.close()
