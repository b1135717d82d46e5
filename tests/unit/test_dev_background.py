"""The tooling's threads (`jean_memory_dev.background`): a call beside the caller's (the drill's cluster
start, its dashboard check inside the healthy window) and calls side by side (replicas started, drained,
the drill's last stop). What a call raises must reach the caller, and only once every call is done."""

from __future__ import annotations

import threading
import time

import pytest

from jean_memory_dev.background import Beside, side_by_side


def test_beside_runs_at_once_and_join_raises_what_it_raised() -> None:
    started = threading.Event()
    beside = Beside(started.set)
    assert started.wait(5)
    beside.join()

    def fails() -> None:
        raise RuntimeError("the cluster did not start")

    failed = Beside(fails)
    with pytest.raises(RuntimeError, match="did not start"):
        failed.join()


def test_side_by_side_runs_together_and_waits_for_all_before_raising() -> None:
    done: list[str] = []
    barrier = threading.Barrier(3, timeout=5)  # only passes if the three calls run at once

    def slow() -> None:
        barrier.wait()
        time.sleep(0.2)
        done.append("slow")

    def fails() -> None:
        barrier.wait()
        raise ValueError("first failure")

    with pytest.raises(ValueError, match="first failure"):
        side_by_side([slow, fails, barrier.wait])
    assert done == ["slow"]  # the failure was raised after the slow call had finished
