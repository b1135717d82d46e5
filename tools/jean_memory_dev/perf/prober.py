"""`/healthz` probed at a steady pace from a process of its own, each probe's latency kept.

A probe thread inside the benchmark shares the benchmark's interpreter with the thread that encodes and
posts the batches: it then measures its own wait for that interpreter lock, not the service. Run apart,
it measures what any other client of the service would see.

    python -m jean_memory_dev.perf.prober URL EVERY_S  # until SIGTERM; then the latencies (s) as JSON
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from types import TracebackType

import httpx

from jean_memory_dev.background import Background


class Prober:
    """The probing process, from `with` to its end: `latencies` is filled when the block exits."""

    def __init__(self, url: str, every_s: float) -> None:
        self.latencies: list[float] = []
        self._args = [sys.executable, "-m", __name__, url, str(every_s)]
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Prober:
        self._proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if line.strip() != "ready":
            raise RuntimeError(f"the prober did not start: {self._proc.communicate()[1][-2000:]}")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        out, err = self._proc.communicate(timeout=60)
        if self._proc.returncode != 0:
            raise RuntimeError(f"the prober failed: {err[-2000:]}")
        self.latencies = [float(x) for x in json.loads(out)]


def main() -> None:
    """Probe at the pace given (`Background`, the tools' paced loop) until SIGTERM. A probe that raised
    (refused, timed out) fails the run (exit 1) rather than leaving a gap in the latencies."""
    url, every_s = sys.argv[1], float(sys.argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/healthz")  # the connection is open before the first measured probe

        def step() -> None:
            start = time.perf_counter()
            client.get("/healthz")
            latencies.append(time.perf_counter() - start)

        loop = Background()
        loop.start(step, "healthz-probe", every_s=every_s)
        print("ready", flush=True)
        stop.wait()
        loop.stop()
    if loop.errors:
        sys.exit(f"probes failed: {loop.errors[:3]}")
    json.dump(latencies, sys.stdout)


if __name__ == "__main__":
    main()
