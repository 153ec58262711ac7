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
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Sequence

from beacon.crypto import bls

log = logging.getLogger(__name__)


def _worker_init(backend: str) -> None:
    bls.set_backend(backend)


def _worker_verify(sets: Sequence[bls.SignatureSet]) -> bool:
    return bls.verify_batch(sets)


def _worker_ping() -> int:
    return os.getpid()


class BatchVerifier:
    """One worker process, started on first use (or by `start()`); thread-safe."""

    def __init__(self, use_worker: bool | None = None) -> None:
        if use_worker is None:
            use_worker = os.environ.get("PYBEACON_VERIFY_WORKER", "1") != "0"
        self.use_worker = use_worker
        self._pool: ProcessPoolExecutor | None = None
        self._backend: str | None = None
        self._lock = threading.Lock()
        self._failed = False
        self.batches = 0  # verified by the worker (tests and metrics)

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
                                                     initargs=(backend,))
                    self._backend = backend
                except OSError as e:
                    self._fail(f"cannot start it: {e}")
                    return None
            return self._pool

    def _fail(self, why: str) -> None:
        if not self._failed:
            log.warning("signature worker process unavailable (%s); verifying in-process", why)
        self._failed = True

    def start(self) -> None:
        """Start the worker now (it takes ~0.3 s to import), without waiting for it."""
        pool = self._get_pool()
        if pool is not None:
            try:
                pool.submit(_worker_ping)
            except (BrokenProcessPool, RuntimeError) as e:
                self._fail(str(e))

    def submit(self, sets: Sequence[bls.SignatureSet]) -> "Future[bool]":
        """bls.verify_batch(sets) in the worker; the future's result is the verdict."""
        if not bls.is_bls_enabled() or not sets:
            done: Future[bool] = Future()
            done.set_result(True)
            return done
        pool = self._get_pool()
        if pool is not None:
            try:
                return pool.submit(_worker_verify, list(sets))
            except (BrokenProcessPool, RuntimeError) as e:
                self._fail(str(e))
        local: Future[bool] = Future()
        local.set_result(bls.verify_batch(sets))
        return local

    def verify(self, sets: Sequence[bls.SignatureSet]) -> bool:
        """Blocking: True iff every set verifies (one randomised multi-pairing)."""
        future = self.submit(sets)
        try:
            ok = future.result()
        except BrokenProcessPool as e:  # the worker died mid-batch: decide here
            self._fail(f"it died: {e}")
            return bls.verify_batch(sets)
        self.batches += 1
        return ok

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
