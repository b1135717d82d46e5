"""The short-term tier's gauges may be read from another thread (a scrape's exposition, the OTLP bridge)
while the event loop reorders and adds users: the read never fails (it once raised "OrderedDict mutated
during iteration", failing an OTLP export and firing the telemetry-pipeline alert under healthy load).
Their functions run only where the loop runs (`refresh_functions`); a collection reads plain values."""

from __future__ import annotations

import sys
import threading

from prometheus_client import CollectorRegistry

from jean_memory.config import Settings
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.loopgauge import refresh_functions
from jean_memory.telemetry.metrics import Metrics


def test_gauges_read_from_another_thread_while_users_move() -> None:
    metrics = Metrics(CollectorRegistry())
    stm = ShortTermTier(Settings(embedder="hash"), 8, metrics.stm)
    for i in range(3000):
        stm.space(f"u{i}")
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                list(metrics.registry.collect())
            except BaseException as exc:
                errors.append(exc)
                return

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(200_000):
            stm.space(f"u{n % 3000}")  # move to end: the order changes on every access
            if n % 1000 == 0:
                stm.space(f"new{n}")
                stm._nbytes_cache = (0.0, 0)  # force the sum
                refresh_functions()  # as the loop does before each collection
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(interval)
    assert not errors, errors[0]
    refresh_functions()
    assert metrics.registry.get_sample_value("jm_stm_users") == 3000 + 200
