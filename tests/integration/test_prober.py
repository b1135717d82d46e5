"""The stall benchmark's prober: a process of its own that probes a real service until told to stop."""

from __future__ import annotations

import time

import pytest

from jean_memory_dev.perf.prober import Prober
from jean_memory_dev.processes import ServiceProcess
from jean_memory_dev.processes.spawn import free_port


def test_probes_at_its_pace_until_the_block_ends(shared_service: ServiceProcess) -> None:
    with Prober(shared_service.url, every_s=0.02) as prober:
        time.sleep(0.5)
    assert prober.latencies, "no probe came back"
    assert all(0 < latency < 5 for latency in prober.latencies)
    assert len(prober.latencies) <= 0.5 / 0.02 + 5  # paced, not back to back


def test_a_service_that_is_not_there_is_an_error_not_an_empty_result() -> None:
    with pytest.raises(RuntimeError, match="the prober did not start"), Prober(f"http://127.0.0.1:{free_port()}", 0.02):
        pass
