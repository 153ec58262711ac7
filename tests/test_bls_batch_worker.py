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
    v = BatchVerifier(use_worker=True)
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
