"""Signature batches verified in a worker process (range sync).

`verify_sets(sets)` is bls.verify_batch run in one long-lived worker process. Why a process
and not a thread: a batch's message hashing (try-and-increment, the cofactor) and signature
decoding run in Python and hold the GIL for most of the batch's time, so a verifying thread
takes the interpreter from the event loop that prepares the next segment. A process uses the
other core for real; it keeps its own decode/hash caches, warm from one segment to the next.

The sets cross as pickles (bytes and tuples: a few kB per block). If the worker cannot be
started or dies, the batch is verified in the calling thread instead (logged once), so a
missing worker costs speed, never a verdict. PYBEACON_VERIFY_WORKER=0 keeps everything in
the calling thread.
"""
from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Sequence

from beacon.crypto import bls

log = logging.getLogger(__name__)

# Share of a batch's sets the calling process checks itself (adapted per batch, see verify):
# the syncing process has its own work, so it takes less than half.
INITIAL_LOCAL_SHARE = 0.15
MAX_LOCAL_SHARE = 0.5
LOCAL_SHARE_STEP = 0.01
# Batches with fewer sets (one or two blocks: gossip, parent lookups) stay in the calling
# thread: a round trip to the worker would only add latency.
MIN_WORKER_SETS = 8
ORPHAN_POLL_S = 1.0  # how often the worker checks that its parent is alive


def _worker_init(backend: str, parent: int) -> None:
    bls.set_backend(backend)
    # A parent killed outright (SIGKILL, OOM) cannot shut the pool down, and the worker would
    # wait for work forever: it leaves on its own once it has been orphaned.
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="orphan-watch", daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL_S)
    os._exit(0)


def _worker_verify(sets: Sequence[bls.SignatureSet]) -> tuple[bool, float]:
    """The verdict and the worker's CPU seconds for it."""
    c0 = time.process_time()
    ok = bls.verify_batch(sets)
    return ok, time.process_time() - c0


def _worker_ping() -> int:
    return os.getpid()


def _worker_cpu() -> float:
    return time.process_time()


class BatchVerifier:
    """One worker process, started on first use (or by `start()`); thread-safe."""

    def __init__(self, use_worker: bool | None = None, min_sets: int = MIN_WORKER_SETS) -> None:
        if use_worker is None:
            use_worker = os.environ.get("PYBEACON_VERIFY_WORKER", "1") != "0"
        self.use_worker = use_worker
        self.min_sets = min_sets  # smaller batches are checked in the calling thread
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future[int] | None = None  # the worker's first answer
        self._backend: str | None = None
        self._lock = threading.Lock()
        self._failed = False
        self.batches = 0  # verified by the worker (tests and metrics)
        self.local_share = INITIAL_LOCAL_SHARE  # of each batch's sets, checked by the caller
        self._cycle_cpu: float | None = None  # this process's CPU time at the last batch
        self._worker_cpu = 0.0  # the worker's CPU time for batches since then

    def _get_pool(self) -> ProcessPoolExecutor | None:
        if not self.use_worker or self._failed:
            return None
        with self._lock:
            backend = bls.get_backend()
            if self._pool is not None and self._backend != backend:
                self._pool.shutdown(wait=False)  # the backend was switched (tests): a fresh worker
                self._pool = None
            if self._pool is None:
                try:
                    # spawn: the parent runs trio and threads, which fork would copy half-way
                    ctx = multiprocessing.get_context("spawn")
                    self._pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_worker_init,
                                                     initargs=(backend, os.getpid()))
                    self._backend = backend
                    # starts the process now, while the caller works; until it answers,
                    # batches are checked in the calling thread (no wait for its start-up)
                    self._ready = self._pool.submit(_worker_ping)
                except (OSError, RuntimeError) as e:
                    self._fail(f"cannot start it: {e}")
                    return None
            return self._pool

    def _fail(self, why: str) -> None:
        if not self._failed:
            log.warning("signature worker process unavailable (%s); verifying in-process", why)
        self._failed = True

    def start(self) -> None:
        """Start the worker now (it takes ~0.3 s to import), without waiting for it."""
        self._get_pool()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Start the worker and wait until it answers; False if there is none."""
        self._get_pool()
        if self._ready is None:
            return False
        try:
            self._ready.result(timeout=timeout)
        except Exception:  # noqa: BLE001 - any failure means: no worker
            return False
        return True

    def submit(self, sets: Sequence[bls.SignatureSet]) -> "Future[tuple[bool, float]]":
        """bls.verify_batch(sets) in the worker; the future's result is (verdict, worker CPU s)."""
        if not bls.is_bls_enabled() or not sets:
            done: Future[tuple[bool, float]] = Future()
            done.set_result((True, 0.0))
            return done
        pool = self._get_pool()
        if pool is not None:
            try:
                return pool.submit(_worker_verify, list(sets))
            except (BrokenProcessPool, RuntimeError) as e:
                self._fail(str(e))
        local: Future[tuple[bool, float]] = Future()
        local.set_result((bls.verify_batch(sets), 0.0))
        return local

    def verify(self, sets: Sequence[bls.SignatureSet]) -> bool:
        """Blocking: True iff every set verifies.

        The worker takes most of the sets; the calling thread checks a share of them itself
        meanwhile (two independent randomised multi-pairings). The share balances the two
        processes' CPU time, which the machine's load does not skew: between two batches,
        this process (event loop and all) and the worker should spend about the same."""
        if not bls.is_bls_enabled() or not sets:
            return True
        # Empty signer groups (every attestation's custody-bit-1 group) cost nothing:
        # bls.verify_batch drops their pairs itself.
        if len(sets) < self.min_sets:
            return bls.verify_batch(sets)  # a block or two (gossip, lookups): not worth a round trip
        self._rebalance()
        pool = self._get_pool()
        if pool is None or self._ready is None or not self._ready.done():
            return bls.verify_batch(sets)  # no worker, or it is still starting
        k = min(len(sets) - 1, round(len(sets) * self.local_share))
        remote, local = sets[:len(sets) - k], sets[len(sets) - k:]
        future = self.submit(remote)
        ok_local = bls.verify_batch(local) if local else True
        try:
            ok, worker_cpu = future.result()
        except BrokenProcessPool as e:  # the worker died mid-batch: decide here
            self._fail(f"it died: {e}")
            return bls.verify_batch(remote) and ok_local
        self._worker_cpu += worker_cpu
        self.batches += 1
        return ok and ok_local

    def _rebalance(self) -> None:
        """Move the local share towards equal CPU time of this process and the worker since
        the last batch (a small step per batch)."""
        now = time.process_time()
        if self._cycle_cpu is not None and self._worker_cpu > 0:
            ours = now - self._cycle_cpu
            step = LOCAL_SHARE_STEP if self._worker_cpu > ours else -LOCAL_SHARE_STEP
            self.local_share = min(MAX_LOCAL_SHARE, max(0.0, self.local_share + step))
        self._cycle_cpu = now
        self._worker_cpu = 0.0

    def worker_cpu_time(self) -> float | None:
        """CPU seconds the worker process has used so far (None without a worker)."""
        pool = self._get_pool()
        if pool is None:
            return None
        try:
            return pool.submit(_worker_cpu).result()
        except (BrokenProcessPool, RuntimeError):
            return None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


_default: BatchVerifier | None = None
_default_lock = threading.Lock()


def default_verifier() -> BatchVerifier:
    """The process-wide verifier (one worker per node process)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = BatchVerifier()
            atexit.register(_default.close)
        return _default


def verify_sets(sets: Sequence[bls.SignatureSet]) -> bool:
    return default_verifier().verify(sets)
