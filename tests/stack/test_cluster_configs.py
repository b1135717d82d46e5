"""The cluster as code: HAProxy's config (both renderings pass `haproxy -c`), the compose `cluster`
profile, and the Prometheus config of every stack, rendered the way each stack renders it.

Compose's variables are read from `docker-compose config` itself (the `config` and `cluster-config`
services' environment), the native ones from the launchers' own `render()`, so a test cannot pass on
values that no stack uses.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from jean_memory_dev.cluster import DRAIN_S, ClusterPorts, ClusterStack
from jean_memory_dev.nativestack import NativeStack, StackPorts
from jean_memory_dev.processes import render_config

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SERVICES = {"cluster-config", "postgres", "replica", "haproxy"}


def compose(*profiles: str) -> dict:
    args = [arg for profile in profiles for arg in ("--profile", profile)]
    out = subprocess.run(["docker-compose", *args, "config"], cwd=ROOT, capture_output=True, text=True, check=True)
    return yaml.safe_load(out.stdout)


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def render_compose(service: str, template: str, out: Path) -> Path:
    """Render `template` with the environment compose gives `service` (rule folders made local)."""
    env = {k: str(v) for k, v in compose("cluster")["services"][service]["environment"].items()}
    env |= {"PROM_RULES_DIR": str(ROOT / "prometheus" / "rules"), "PROM_ALERTS_DIR": str(ROOT / "alerts" / "rules")}
    return render_config(ROOT / template, out, env)


def rendered(variant: str, tmp_path: Path) -> tuple[Path, Path | None]:
    """(prometheus.yml, haproxy.cfg or None) as the stack named `variant` renders them."""
    if variant == "compose":
        return render_compose("config", "prometheus/prometheus.yml", tmp_path / "prometheus.yml"), None
    if variant == "compose-cluster":
        prometheus = render_compose("cluster-config", "prometheus/prometheus.yml", tmp_path / "prometheus.yml")
        return prometheus, render_compose("cluster-config", "haproxy/haproxy.cfg", tmp_path / "haproxy.cfg")
    if variant == "native":
        ports = StackPorts(service=8766, prometheus=9090, alertmanager=9093, receiver=9099)
        stack = NativeStack(tmp_path, ports=ports)
        stack.render()
        return stack.config / "prometheus.yml", None
    cluster = ClusterStack(tmp_path, replicas=3, ports=ClusterPorts.free())
    cluster.render()
    return cluster.config / "prometheus.yml", cluster.haproxy.config


VARIANTS = ["compose", "compose-cluster", "native", "native-cluster"]


@pytest.mark.parametrize("variant", ["compose-cluster", "native-cluster"])
def test_haproxy_config_is_valid(tmp_path: Path, variant: str) -> None:
    _, config = rendered(variant, tmp_path)
    assert config is not None
    result = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_haproxy_is_built_with_its_prometheus_exporter() -> None:
    out = subprocess.run(["haproxy", "-vv"], capture_output=True, text=True, check=True).stdout
    assert "prometheus-exporter" in out


def backend(config: Path) -> list[str]:
    """The `replicas` backend's lines, stripped, comments dropped."""
    lines, inside = [], False
    for raw in config.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if raw and not raw[0].isspace():
            inside = raw.startswith("backend replicas")
        elif inside and line:
            lines.append(line)
    return lines


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s)", value).groups()  # type: ignore[union-attr]
    return int(number) / (1000 if unit == "ms" else 1)


@pytest.mark.parametrize("variant", ["compose-cluster", "native-cluster"])
def test_haproxy_takes_a_draining_replica_out_before_it_stops(tmp_path: Path, variant: str) -> None:
    """A replica answers 503 on /readyz for JM_DRAIN_S after SIGTERM while still serving: HAProxy must
    see `fall` failed checks within half that time (the other half covers the checks' own latency).
    Retries are only for requests never sent."""
    _, config = rendered(variant, tmp_path)
    assert config is not None
    lines = backend(config)
    assert "option httpchk GET /readyz" in lines and "http-check expect status 200" in lines
    assert "http-reuse safe" in lines
    default = next(line.split() for line in lines if line.startswith("default-server"))
    option = {default[i]: default[i + 1] for i in range(1, len(default) - 1) if default[i] in ("inter", "fall")}
    noticed_within = seconds(option["inter"]) * int(option["fall"])
    replica_env = compose("cluster")["services"]["replica"]["environment"]
    for drain in (float(replica_env["JM_DRAIN_S"]), float(DRAIN_S)):
        assert noticed_within <= drain / 2, f"a draining replica is noticed after {noticed_within}s, it drains {drain}s"
    text = config.read_text()
    assert re.search(r"^\s*retry-on conn-failure\s*$", text, re.M), "retry only what was never sent (safe for POST)"
    assert "option redispatch" in text and re.search(r"^\s*retries 3\s*$", text, re.M)
    for timeout in ("connect", "client", "server"):
        assert re.search(rf"^\s*timeout {timeout} \S+", text, re.M), timeout
    assert "shutdown-sessions" not in text, "a replica marked down must finish what it serves"


def test_haproxy_servers_in_each_rendering(tmp_path: Path) -> None:
    compose_cfg = rendered("compose-cluster", tmp_path / "c")[1]
    cluster = ClusterStack(tmp_path / "n", replicas=3, ports=ClusterPorts.free())
    cluster.render()
    replicas = int(env_example()["CLUSTER_REPLICAS"])
    assert compose_cfg is not None
    compose_lines = backend(compose_cfg)
    assert f"server-template replica {replicas} replica:8766 check resolvers docker init-addr none" in compose_lines
    assert "nameserver dns 127.0.0.11:53" in compose_cfg.read_text()
    native_lines = [line for line in backend(cluster.haproxy.config) if line.startswith("server ")]
    assert native_lines == [f"server replica-{i + 1} 127.0.0.1:{p} check" for i, p in enumerate(cluster.ports.replicas)]
    assert "resolvers" not in cluster.haproxy.config.read_text(), "no DNS natively"
    assert compose("cluster")["services"]["replica"]["deploy"]["replicas"] == replicas


@pytest.mark.parametrize("variant", ["compose-cluster", "native-cluster"])
def test_promtool_check_cluster_config(tmp_path: Path, variant: str) -> None:
    prometheus, _ = rendered(variant, tmp_path)
    result = subprocess.run(["promtool", "check", "config", str(prometheus)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_prometheus_scrapes_what_each_stack_runs(tmp_path: Path, variant: str) -> None:
    """Replicas are found by DNS only in the compose cluster profile (elsewhere the DNS-SD list renders to
    `[]`, which Prometheus accepts where it refuses a DNS-SD config without a name); HAProxy is scraped in
    the clusters only; the service is listed natively and absent in compose (its metrics come over OTLP)."""
    prometheus, _ = rendered(variant, tmp_path)
    jobs = {job["job_name"]: job for job in yaml.safe_load(prometheus.read_text())["scrape_configs"]}
    service = jobs["jean-memory"]
    dns = [{"names": ["replica"], "type": "A", "port": 8766, "refresh_interval": "5s"}]
    assert service["dns_sd_configs"] == (dns if variant == "compose-cluster" else [])
    listed = service["static_configs"][0]["targets"]
    assert len(listed) == {"compose": 0, "compose-cluster": 0, "native": 1, "native-cluster": 3}[variant]
    haproxy = jobs["haproxy"]["static_configs"][0]["targets"]
    assert len(haproxy) == (1 if variant.endswith("cluster") else 0)
    if variant == "compose-cluster":
        assert haproxy == ["haproxy:8404"]


def test_compose_cluster_profile() -> None:
    default, cluster = compose(), compose("cluster")
    assert not CLUSTER_SERVICES & set(default["services"]), "the default stack is unchanged"
    assert set(cluster["services"]) >= CLUSTER_SERVICES
    services = cluster["services"]
    for name in CLUSTER_SERVICES:
        assert services[name]["profiles"] == ["cluster"], name
    replica = services["replica"]
    assert "ports" not in replica, "replicas are reached through HAProxy only"
    assert replica["environment"]["JM_CLUSTER"] == "true"
    assert replica["environment"]["JM_LTM_URL"] == "postgresql://postgres@postgres:5432/postgres", "no password"
    assert replica["environment"]["JM_LTM_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert replica["environment"]["JM_OTLP_METRICS"] == "false", "scraped: its metrics must not arrive twice"
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert replica["image"] == services["service"]["image"], "the replicas run the service's image"
    env = env_example()
    published = {(p["published"], p["target"]) for p in services["haproxy"]["ports"]}
    assert published == {(env["HAPROXY_PORT"], 8766), (env["HAPROXY_STATS_PORT"], 8404)}
    assert services["haproxy"]["depends_on"]["cluster-config"]["condition"] == "service_completed_successfully"
    # Prometheus starts from the cluster's rendering when there is one, and from the default one otherwise.
    wait = services["prometheus"]["depends_on"]["cluster-config"]
    assert wait == {"condition": "service_completed_successfully", "required": False}
    assert services["cluster-config"]["depends_on"]["config"]["condition"] == "service_completed_successfully"
    assert "pg-data" in cluster["volumes"]


def test_env_example_holds_every_compose_port_image_and_cluster_setting() -> None:
    """One place: each `${VAR:-default}` of compose.yaml for a port, an image or the cluster has its
    line in .env.example, with the same value."""
    env = env_example()
    found = re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", (ROOT / "compose.yaml").read_text())
    wanted = {
        k: v
        for k, v in found
        if k.endswith(("_PORT", "_IMAGE")) or k in ("CLUSTER_REPLICAS", "JM_BIND_ADDRESS", "SECRETS_DIR")
    }
    assert {"HAPROXY_PORT", "HAPROXY_STATS_PORT", "HAPROXY_IMAGE", "POSTGRES_IMAGE", "CLUSTER_REPLICAS"} <= set(wanted)
    assert {"JM_BIND_ADDRESS", "SECRETS_DIR"} <= set(wanted)
    assert {k: env.get(k) for k in wanted} == wanted
