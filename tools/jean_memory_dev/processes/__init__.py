"""Start and stop real local processes: the service, PostgreSQL (alone or with a synchronous standby),
HAProxy, Prometheus, Alertmanager and the alert receiver.

Used by the tests, the benchmarks, the fire drills and the native launchers, so all of them exercise
the real thing over real sockets. Every process is started in its own process group and killed with it.

    spawn.py       process groups: spawn, wait over HTTP, stop, the process table; config templates
    service.py     the service and its canary
    postgres.py    PostgreSQL, alone or with a synchronous standby
    monitoring.py  Prometheus, Alertmanager, the alert receiver
    haproxy.py     HAProxy
"""

from __future__ import annotations

from jean_memory_dev.processes.haproxy import HaproxyProcess
from jean_memory_dev.processes.monitoring import AlertmanagerServer, PrometheusServer, ReceiverProcess
from jean_memory_dev.processes.postgres import PostgresServer, ReplicatedPostgres, pg_bin, standby_settings
from jean_memory_dev.processes.service import CanaryProcess, ServiceProcess
from jean_memory_dev.processes.spawn import (
    cpu_seconds,
    free_port,
    kill_group,
    render_config,
    spawn,
    stop_group,
    stop_groups,
    wait_http,
)

__all__ = [
    "AlertmanagerServer",
    "CanaryProcess",
    "HaproxyProcess",
    "PostgresServer",
    "PrometheusServer",
    "ReceiverProcess",
    "ReplicatedPostgres",
    "ServiceProcess",
    "cpu_seconds",
    "free_port",
    "kill_group",
    "pg_bin",
    "render_config",
    "spawn",
    "standby_settings",
    "stop_group",
    "stop_groups",
    "wait_http",
]
