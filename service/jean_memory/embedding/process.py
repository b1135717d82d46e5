"""Run an embedder in a child process, so the model never competes with the event loop for the GIL.

Measured (issue 6, `jean-memory-dev capacity`; figures in docs/performance.md): with MiniLM on a thread of
the service's own process, the service embedded clearly less than the bare model on the same single torch
thread, and Zipf searches had a p99 several times the target. Every torch operator releases and retakes
the GIL, and CPython hands it over at most every 5 ms, so the model thread and the event loop kept
stalling each other. In a child process the model has its own interpreter; the price is pickling texts and
vectors over a pipe, small against a batch's inference. A child that dies is replaced and its batch
retried once; a child whose parent died exits on its own (it never outlives a `kill -9` of the service).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from jean_memory.embedding.base import Embedder

log = logging.getLogger(__name__)

_model: Embedder | None = None  # the child's embedder


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _child_init(build: Callable[[], Embedder], parent: int) -> None:
    global _model
    # The parent handles Ctrl-C and SIGTERM and shuts the pool down itself; a signal sent to the whole
    # process group must not kill the model under a graceful shutdown that still needs it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    _model = build()
    _model.warm_up()


def _describe() -> tuple[str, int]:
    assert _model is not None
    return _model.model_id, _model.dim


def _embed(texts: list[str]) -> np.ndarray:
    assert _model is not None
    return _model.embed(texts)


class ProcessEmbedder(Embedder):
    """Wraps `build` (a picklable factory of the real embedder) in a one-process pool."""

    inline = False

    def __init__(self, build: Callable[[], Embedder]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._pool = self._spawn()

    def _spawn(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_init,
            initargs=(self._build, os.getpid()),
        )
        self.model_id, self.dim = pool.submit(_describe).result()
        return pool

    @property
    def pids(self) -> list[int]:
        """The model process (for operators and tests)."""
        return [p.pid for p in self._pool._processes.values() if p.pid]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        pool = self._pool
        try:
            return pool.submit(_embed, list(texts)).result()
        except BrokenProcessPool:
            log.error("the embedding process died; starting a new one and retrying the batch")
            with self._lock:
                if self._pool is pool:
                    self._pool = self._spawn()
            return self._pool.submit(_embed, list(texts)).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
