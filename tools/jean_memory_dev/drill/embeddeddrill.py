"""The embedded service under drill: the service and its canary, scraped by the drill's monitoring in HA
(two Prometheus replicas, three clustered Alertmanagers, the receiver as dead man's switch: the
`Monitoring` the run hands in), the locust workload, and the faults.

Phases: warm up (caches start cold), a healthy window in which nothing but the Watchdog may reach the
receiver (every dashboard query is checked meanwhile), the quick faults, then (full run) the other embedded
faults, and last the dead man's switch (every Prometheus replica stopped; the next run's processes start
meanwhile).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from jean_memory_dev.drill import golden
from jean_memory_dev.drill.faults import deadman, full_embedded, quick
from jean_memory_dev.drill.model import Fault
from jean_memory_dev.drill.report import DrillResult
from jean_memory_dev.drill.runner import SERVICE_ENV, DrillRun
from jean_memory_dev.mixin.boards import Mode
from jean_memory_dev.nativestack import Monitoring, NativeStack

#: The embedding backlog of the drill's service (JM_EMBED_MAX_BACKLOG): the healthy load's batches (up to
#: 50 items) never come near it; the `admission` fault's batches of 600 do not fit.
EMBED_MAX_BACKLOG = 500


class EmbeddedDrill(DrillRun):
    mode = Mode.EMBEDDED

    def __init__(
        self,
        folder: Path,
        result: DrillResult,
        monitoring: Monitoring,
        healthy_s: float = 120.0,
        users: int = 10,
        full: bool = False,
        next_run: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(folder, result, monitoring, healthy_s=healthy_s, full=full, users=users)
        #: Started once the last fault (the dead man's switch: every Prometheus stopped) is injected: the next
        #: run's processes come up meanwhile, while nothing but the receiver is watched.
        self.next_run = next_run
        ports = monitoring.ports
        receiver = f"http://127.0.0.1:{ports.receiver}"
        env = {
            **SERVICE_ENV,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "JM_EMBED_MAX_BACKLOG": str(EMBED_MAX_BACKLOG),
            **golden.env(folder / "golden.ndjson"),
        }
        self.stack = NativeStack(
            folder / "stack", fast=True, ports=ports, service_env=env, ha=self.ha, canary=True, shared=monitoring
        )

    @property
    def front(self) -> str:
        return self.stack.service.url

    def service_urls(self) -> list[str]:
        return [self.stack.service.url]

    def service_process(self, replica: int | None = None) -> subprocess.Popen[bytes]:
        proc = self.stack.service.proc
        if proc is None:
            raise RuntimeError("the service is not running")
        return proc

    def service_processes(self) -> list[subprocess.Popen[bytes]]:
        proc = self.stack.service.proc
        return [proc] if proc is not None and proc.poll() is None else []

    def kill_service(self) -> None:
        self.stack.service.kill()

    def restart_service(self, env: dict[str, str]) -> None:
        self.stack.service.env.update(env)
        self.stack.service.start()

    def faults(self) -> tuple[Fault, ...]:
        return quick() + (full_embedded() if self.full else ()) + (deadman(),)

    def _start_next_run(self) -> None:
        """Every Prometheus is stopped: the load no longer counts, and its CPU goes to the next run's start."""
        self.load.stop()
        if self.next_run is not None:
            self.next_run()

    def run(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.result.runs[self.mode] = {
            "ha": self.ha,
            "prometheus": len(self.prometheus),
            "alertmanagers": len(self.alertmanagers),
        }
        with self.report.timed("start"):
            self.stack.up()
        try:
            with self.report.timed("warm-up"):
                self.start_load()
                self.warm_up()
            with self.report.timed("healthy window, dashboards"):
                self.healthy(self.healthy_s, meanwhile=self.check_dashboards)
            self.monitoring.wait_settled()  # started unsettled by the drill: its faults need one cluster
            *faults, last = self.faults()
            for fault in faults:
                with self.report.timed(fault.name):
                    self.engine.run_fault(fault)
                    if fault.name == "service_down":  # started again cold: warm up before the next fault
                        self.warm_up(label="after the restart")
            # No settle after the last: the next run warms up until nothing fires, and begins with no fault.
            with self.report.timed(last.name):
                self.engine.run_fault(last, during=self._start_next_run, settle=False)
        finally:
            with self.report.timed("stop"):
                self.load.stop()
                self.stack.down()
