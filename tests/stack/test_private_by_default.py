"""The stack is private unless the operator says otherwise (issue 21).

Compose, as `docker-compose config` renders it for every profile: every published port binds 127.0.0.1
unless JM_BIND_ADDRESS says otherwise, and that variable publishes only the ports that ask for credentials;
no environment variable holds a secret (passwords, keys, URLs with a password) where `docker inspect` would
show it; Grafana wants its admin password from a secret file and lets nobody in anonymously; Prometheus has
no lifecycle API. The native stack, with the real binaries: every process listens on loopback only, and
Prometheus refuses `/-/quit` while it reloads on SIGHUP.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from jean_memory_dev.processes import (
    AlertmanagerServer,
    HaproxyProcess,
    PrometheusServer,
    ReceiverProcess,
    free_port,
    wait_http,
)

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("load", "cluster", "ha")

#: (service, container port) of the ports JM_BIND_ADDRESS publishes: each asks for credentials (the API and
#: HAProxy's front door: API keys; Grafana: its admin password). Every other port has no authentication.
AUTHENTICATED = {("service", 8766), ("haproxy", 8766), ("grafana", 3000)}

#: An environment variable whose name says it holds a secret; only its `_FILE` form may be set. (Receivers
#: whose URL is a secret, Slack's and PagerDuty's, read it from a file: alerts/alertmanager.yml's examples.)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ROUTING_KEY", re.IGNORECASE)

#: A URL with a password in it: scheme://user:password@host.
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)


def compose_config(**env: str) -> dict[str, Any]:
    """Every profile, as compose renders it from .env.example's values (a developer's .env is not read) with
    `env` laid over them; JM_BIND_ADDRESS comes from `env` alone."""
    clean = {k: v for k, v in os.environ.items() if k != "JM_BIND_ADDRESS"}
    profiles = [arg for p in PROFILES for arg in ("--profile", p)]
    result = subprocess.run(
        ["docker-compose", "--env-file", ".env.example", *profiles, "config", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def published(config: dict[str, Any]) -> dict[tuple[str, int], str]:
    """(service, container port) -> the host address it is published on."""
    return {
        (name, int(port["target"])): port.get("host_ip", "")
        for name, svc in config["services"].items()
        for port in svc.get("ports", [])
    }


def test_every_published_port_of_every_profile_binds_loopback_by_default() -> None:
    ports = published(compose_config())
    assert len(ports) == 17, (
        ports
    )  # the default stack (canary, exporters and Loki included), the load, cluster and ha profiles
    assert set(ports) >= AUTHENTICATED
    wide = {port: ip for port, ip in ports.items() if ip != "127.0.0.1"}
    assert not wide, f"published beyond this host by default: {wide}"


def test_the_bind_address_publishes_only_the_ports_that_ask_for_credentials() -> None:
    ports = published(compose_config(JM_BIND_ADDRESS="0.0.0.0"))
    assert {port: ports[port] for port in AUTHENTICATED} == dict.fromkeys(AUTHENTICATED, "0.0.0.0")
    rest = {port: ip for port, ip in ports.items() if port not in AUTHENTICATED}
    assert rest and set(rest.values()) == {"127.0.0.1"}, rest  # Prometheus, Alertmanager, stats...: no auth
    documented = (ROOT / ".env.example").read_text()
    assert re.search(r"^JM_BIND_ADDRESS=127\.0\.0\.1$", documented, re.MULTILINE), "one documented variable"


def test_no_environment_variable_holds_a_secret() -> None:
    config = compose_config(JM_BIND_ADDRESS="0.0.0.0")
    declared = config.get("secrets", {})
    assert {"jm_api_keys", "postgres_password", "grafana_admin_password"} <= set(declared)
    for name, svc in config["services"].items():
        mounted = {s["source"] for s in svc.get("secrets", [])}
        for var, value in (svc.get("environment") or {}).items():
            value = str(value or "")
            assert not URL_WITH_PASSWORD.search(value), f"{name}: {var} holds a URL with a password"
            if SECRET_NAME.search(var):
                assert var.endswith("_FILE"), f"{name}: {var} holds a secret; use {var}_FILE and a secret file"
            if var.endswith("_FILE") and value.startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {var} names a secret not mounted"
    services = config["services"]
    for name in ("service", "replica", "loadgen"):
        assert "jm_api_keys" in {s["source"] for s in services[name]["secrets"]}, f"{name}: the API's keys"
    assert services["replica"]["environment"]["JM_LTM_URL"] == "postgresql://postgres@postgres:5432/postgres"
    assert services["replica"]["environment"]["JM_LTM_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert services["postgres"]["environment"] == {"POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"}


def test_grafana_wants_a_password_and_prometheus_has_no_lifecycle_api() -> None:
    services = compose_config()["services"]
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert not any(k.startswith("GF_AUTH_ANONYMOUS_ORG") for k in grafana)
    for name in ("prometheus", "prometheus-2"):
        command = services[name]["command"]
        assert command and not any("lifecycle" in arg for arg in command), f"{name}: {command}"


def test_the_secrets_script_makes_private_random_files(tmp_path: Path) -> None:
    where = tmp_path / "secrets"
    env = {**os.environ, "SECRETS_DIR": str(where)}
    subprocess.run([sys.executable, "scripts/secrets"], cwd=ROOT, env=env, check=True, capture_output=True)
    files = {p.name: p.read_text().strip() for p in where.iterdir()}
    assert set(files) == {"jm-api-keys", "postgres-password", "grafana-admin-password", "jm-canary-key"}
    assert all(len(v) >= 32 for v in files.values()) and len(set(files.values())) == 4
    # The canary's key is its own tenant's, and the service's keys file knows it (the users' key comes first).
    user_key, canary_line = files["jm-api-keys"].splitlines()
    assert canary_line == files["jm-canary-key"] and canary_line.endswith(":jm-canary")
    assert canary_line.split(":")[0] != user_key
    assert where.stat().st_mode & 0o777 == 0o700, "no other user of the machine reaches the files"
    (where / "postgres-password").write_text("mine\n")
    subprocess.run([sys.executable, "scripts/secrets"], cwd=ROOT, env=env, check=True, capture_output=True)
    assert (where / "postgres-password").read_text() == "mine\n", "an operator's own secret is kept"


# -- the native stack, with the real binaries ------------------------------------------------------------


def listening(pid: int) -> set[str]:
    """The addresses the process `pid` (and its children) listen on for TCP."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {
        c.laddr.ip
        for p in procs
        for c in p.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN  # type: ignore[attr-defined]
    }


@pytest.fixture
def monitoring(tmp_path: Path) -> Iterator[tuple[PrometheusServer, AlertmanagerServer, HaproxyProcess]]:
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    (tmp_path / "alertmanager.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    prom = PrometheusServer(tmp_path / "prometheus.yml", tmp_path / "prom")
    am = AlertmanagerServer(tmp_path / "alertmanager.yml", tmp_path / "am", cluster_port=free_port())
    haproxy = HaproxyProcess(tmp_path / "haproxy", {"replica-1": free_port()})
    try:
        yield prom.start(), am.start(), haproxy.start()
    finally:
        haproxy.stop()
        am.stop()
        prom.stop()


def test_native_processes_listen_on_loopback_only(
    monitoring: tuple[PrometheusServer, AlertmanagerServer, HaproxyProcess], tmp_path: Path
) -> None:
    for process in monitoring:
        assert process.proc is not None
        assert listening(process.proc.pid) == {"127.0.0.1"}, type(process).__name__
    receiver = ReceiverProcess(ROOT / "scripts" / "alert-receiver", tmp_path / "alerts.jsonl").start()
    try:
        assert receiver.proc is not None and listening(receiver.proc.pid) == {"127.0.0.1"}
    finally:
        receiver.stop()
    port = free_port()  # the receiver's own default, without --host
    default = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "alert-receiver"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, default)  # type: ignore[arg-type]
        assert listening(default.pid) == {"127.0.0.1"}
    finally:
        default.terminate()
        default.wait(10)


def test_native_prometheus_refuses_quit_and_reloads_on_sighup(
    monitoring: tuple[PrometheusServer, AlertmanagerServer, HaproxyProcess],
) -> None:
    prom = monitoring[0]
    assert prom.proc is not None
    for endpoint in ("/-/quit", "/-/reload"):
        r = httpx.post(prom.url + endpoint, timeout=5)
        assert r.status_code == 403, (endpoint, r.status_code, r.text)  # "Lifecycle API is not enabled."
    assert prom.running and httpx.get(prom.url + "/-/ready", timeout=5).status_code == 200
    prom.config.write_text("global: {scrape_interval: 7s}\n")
    os.kill(prom.proc.pid, signal.SIGHUP)  # how a changed config is loaded instead
    deadline = time.monotonic() + 20
    while "scrape_interval: 7s" not in httpx.get(prom.url + "/api/v1/status/config", timeout=5).json()["data"]["yaml"]:
        assert time.monotonic() < deadline, "SIGHUP did not reload the config"
        time.sleep(0.1)
