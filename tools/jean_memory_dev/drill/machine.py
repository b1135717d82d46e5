"""What the machine gave the drill over a window: CPU stolen by the hypervisor, and how long each service
process's event-loop thread waited in the run queue.

The healthy window claims that healthy load raises no alert. A latency alert can fire because the service
held its loop or because the machine did not run it (a busy host stealing the virtual CPUs, a run queue
longer than the cores); the report that fails a run says which, from the kernel's own counts: `/proc/stat`'s
steal column, and `/proc/<pid>/task/<pid>/schedstat`'s run delay (nanoseconds the thread was ready to run
and was not running), which is what stretches an event loop's 100 ms timer when nothing in the loop holds it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field


def _cpu_ticks() -> tuple[int, int]:
    """(steal, all) ticks of every CPU since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    steal = fields[7] if len(fields) > 7 else 0
    return steal, sum(fields[:8])


def _run_delay_ns(pid: int) -> int | None:
    """Nanoseconds the process's main thread (its event loop) waited in a run queue since it started."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class MachineShare:
    """A window's start: call `end()` for what the machine gave over it."""

    pids: list[int]
    started: float = field(default_factory=time.monotonic)
    _cpu: tuple[int, int] = field(default_factory=_cpu_ticks)
    _delays: dict[int, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._delays = {pid: _run_delay_ns(pid) for pid in self.pids}

    def end(self) -> MachineReport:
        seconds = max(time.monotonic() - self.started, 1e-9)
        steal, total = _cpu_ticks()
        cpu_ticks = max(total - self._cpu[1], 1)
        waits: dict[int, float] = {}
        for pid, before in self._delays.items():
            after = _run_delay_ns(pid)
            if before is not None and after is not None:
                waits[pid] = (after - before) / 1e9 / seconds
        return MachineReport(
            seconds=seconds,
            steal_share=(steal - self._cpu[0]) / cpu_ticks,
            run_queue_wait_share=waits,
        )


@dataclass
class MachineReport:
    """Over a window: the share of CPU time stolen, and each loop thread's share of the window spent
    waiting in a run queue (by pid)."""

    seconds: float
    steal_share: float
    run_queue_wait_share: dict[int, float]

    def describe(self) -> str:
        waits = ", ".join(f"{v:.1%}" for v in self.run_queue_wait_share.values())
        return f"CPU stolen {self.steal_share:.2%}, loop threads' run-queue wait {waits or 'unknown'}"

    def to_json(self) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 1),
            "steal_share": round(self.steal_share, 4),
            "run_queue_wait_share": {str(p): round(v, 4) for p, v in self.run_queue_wait_share.items()},
        }


def watch(pids: Iterable[int]) -> MachineShare:
    """Start watching the machine and these processes' event-loop threads."""
    return MachineShare(list(pids))
