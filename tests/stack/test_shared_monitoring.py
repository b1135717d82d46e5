"""One monitoring shared by stacks started one after the other (the fire drill's embedded run, then its
cluster): a real HA monitoring (two Prometheus replicas, three clustered Alertmanagers, the receiver) is
pointed at one native stack's service and canary, then away from it when the stack goes down (every
replica drops the targets before the service stops, so nothing alerts about a stack taken down on
purpose), then at a second stack, with no restart: the Alertmanagers, the receiver and the Prometheus
processes stay the same ones throughout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jean_memory_dev.nativestack import Monitoring, NativeStack, StackPorts
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

OWN = {"prometheus", "alertmanager"}


def scraped_instances(monitoring: Monitoring, job: str) -> list[set[str]]:
    """Per Prometheus replica, the instances of `job` it scrapes and finds up now."""
    return [{r["metric"]["instance"] for r in p.query(f'up{{job="{job}"}} == 1')} for p in monitoring.prometheus]


def test_a_shared_monitoring_follows_one_stack_then_the_next(tmp_path: Path) -> None:
    monitoring = Monitoring(tmp_path / "monitoring", StackPorts.free(), fast=True, ha=True)
    monitoring.render({})
    try:
        monitoring.start_alerting()
        alerting = [monitoring.receiver.proc, *(am.proc for am in monitoring.alertmanagers)]
        first = NativeStack(tmp_path / "first", fast=True, ports=monitoring.ports, canary=True, shared=monitoring)
        first.service_env["JM_EMBEDDER"] = "hash"
        first.up()
        try:
            instance = f"127.0.0.1:{first.ports.service}"
            wait_for(lambda: all(instance in s for s in scraped_instances(monitoring, "jean-memory")), 60, "scraped")
            prometheus = [p.proc for p in monitoring.prometheus]
        finally:
            first.down()
        assert all(p.active_jobs() <= OWN for p in monitoring.prometheus), "the first stack's targets dropped"
        assert first.service.proc is None or first.service.proc.poll() is not None
        second_ports = StackPorts.free()
        second_ports.receiver = monitoring.ports.receiver
        second = NativeStack(tmp_path / "second", fast=True, ports=second_ports, shared=monitoring)
        second.service_env["JM_EMBEDDER"] = "hash"
        second.up()
        try:
            instance = f"127.0.0.1:{second.ports.service}"
            wait_for(lambda: all(instance in s for s in scraped_instances(monitoring, "jean-memory")), 60, "scraped")
            assert all(p.active_jobs() == OWN | {"jean-memory"} for p in monitoring.prometheus)
        finally:
            second.down()
        assert [p.proc for p in monitoring.prometheus] == prometheus, "reloaded, never restarted"
        assert [monitoring.receiver.proc, *(am.proc for am in monitoring.alertmanagers)] == alerting
        assert all(proc is not None and proc.poll() is None for proc in (*alerting, *prometheus))
    finally:
        monitoring.stop()
