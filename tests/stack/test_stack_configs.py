"""The observability stack as code, validated with the real tools available here.

Run for real: docker-compose (config -q), promtool (check config), a real Prometheus parsing every
PromQL expression of every rule and dashboard. Checked structurally (their binaries cannot be
installed here): the OpenTelemetry Collector, Tempo and Grafana configs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from jean_memory.telemetry.metrics import metric_docs
from jean_memory_dev.drill.dashcheck import draws, sent, with_all_selected
from jean_memory_dev.mixin import layout, load
from jean_memory_dev.mixin.generate import outputs, problems
from jean_memory_dev.processes import PrometheusServer
from tests.helpers import known_metric_names, without_grouping

ROOT = Path(__file__).resolve().parents[2]

DASHBOARDS = sorted((ROOT / "dashboards" / "json").glob("*.json"))


def dashboard_exprs() -> Iterator[tuple[str, str, dict]]:
    """Every PromQL query of every panel, then every annotation's, as `(uid, where, target)` (LogQL targets,
    Loki's, are checked by the Errors board's own test)."""
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                if t["datasource"]["type"] != "loki":
                    yield path.stem, panel["title"], t
        for a in board["annotations"]["list"]:
            if "expr" in a:
                yield path.stem, f"annotation {a['name']}", a


def sent_exprs() -> Iterator[tuple[str, str, str]]:
    """The queries as Grafana sends them (`$__rate_interval` computed, variables on All), as the drill does."""
    boards = {p.stem: json.loads(p.read_text()) for p in DASHBOARDS}
    for uid, where, t in dashboard_exprs():
        yield uid, where, with_all_selected(boards[uid], t["expr"])


def rule_exprs() -> Iterator[str]:
    for path in [*ROOT.glob("alerts/rules*/*.yml"), *ROOT.glob("prometheus/rules*/*.yml")]:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield rule["expr"]


def render(template: str, out: Path, **env: str) -> Path:
    subprocess.run(
        [sys.executable, "scripts/render-config", template, str(out)], cwd=ROOT, check=True, env={**os.environ, **env}
    )
    return out


def test_compose_config_is_valid() -> None:
    for args in ([], ["--profile", "load"], ["--profile", "cluster"], ["--profile", "ha"]):
        result = subprocess.run(["docker-compose", *args, "config", "-q"], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_compose_pins_images_and_has_healthchecks_limits_volumes() -> None:
    config = yaml.safe_load(
        subprocess.run(
            ["docker-compose", "--profile", "load", "--profile", "cluster", "--profile", "ha", "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    env = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name, svc in config["services"].items():
        image = svc.get("image", "")
        assert image and ":" in image and not image.endswith(":latest"), f"{name}: image not pinned ({image})"
        if name in ("config", "cluster-config", "ha-config", "loadgen"):  # one-shot jobs
            continue
        assert svc.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory"), f"{name}: no memory limit"
        if name != "otel-collector":  # distroless: no shell to run a healthcheck in
            assert "healthcheck" in svc, f"{name}: no healthcheck"
    image_vars = ("PROMETHEUS_IMAGE", "ALERTMANAGER_IMAGE", "OTELCOL_IMAGE", "TEMPO_IMAGE", "GRAFANA_IMAGE")
    image_vars += ("NODE_EXPORTER_IMAGE", "POSTGRES_EXPORTER_IMAGE", "BLACKBOX_EXPORTER_IMAGE", "LOKI_IMAGE")
    for image_var in (*image_vars, "POSTGRES_IMAGE", "HAPROXY_IMAGE"):
        assert env[image_var] in {s.get("image") for s in config["services"].values()}, image_var
    assert config["services"]["prometheus"]["depends_on"]["config"]["condition"] == "service_completed_successfully"
    assert Path(config["services"]["service"]["build"]["context"]).name == "service", (
        "the image builds the service alone"
    )
    assert config["services"]["loadgen"]["build"]["dockerfile"] == "tools/Dockerfile"
    assert config["services"]["loadgen"]["profiles"] == ["load"]
    for name in (
        "jm-data",
        "prometheus-data",
        "tempo-data",
        "loki-data",
        "grafana-data",
        "alertmanager-data",
        "pg-data",
        "prometheus-2-data",
        "alertmanager-2-data",
        "alertmanager-3-data",
    ):
        assert name in config["volumes"]


@pytest.mark.parametrize("variant", ["compose", "native"])
def test_promtool_check_config(tmp_path: Path, variant: str) -> None:
    env = {"PROM_RULES_DIR": str(ROOT / "prometheus" / "rules"), "PROM_ALERTS_DIR": str(ROOT / "alerts" / "rules")}
    if variant == "native":  # the native cluster's rendering, exporters included
        env |= {"JM_SCRAPE_TARGETS": "'127.0.0.1:8766'", "ALERTMANAGER_ADDR": "127.0.0.1:9093"}
        env |= {
            "NODE_EXPORTER_TARGETS": "'127.0.0.1:9100'",
            "POSTGRES_EXPORTER_TARGETS": "'127.0.0.1:9187', '127.0.0.1:9188'",
            "PROBE_FRONT_TARGETS": "'127.0.0.1:8776'",
            "PROBE_REPLICA_TARGETS": "'127.0.0.1:8766', '127.0.0.1:8767'",
            "BLACKBOX_EXPORTER_ADDR": "127.0.0.1:9115",
            "POSTGRES_SCRAPE_INTERVAL": "3s",
            "POSTGRES_SCRAPE_TIMEOUT": "3s",
        }
    else:  # compose's profile cluster
        env |= {"COLLECTOR_METRICS_TARGETS": "'otel-collector:8888'", "TEMPO_METRICS_TARGETS": "'tempo:3200'"}
        env |= {
            "NODE_EXPORTER_TARGETS": "'node-exporter:9100'",
            "POSTGRES_EXPORTER_TARGETS": "'postgres-exporter:9187'",
            "PROBE_FRONT_TARGETS": "'service:8766', 'haproxy:8766'",
            "PROBE_REPLICA_DNS_SD_CONFIGS": "[{names: [replica], type: A, port: 8766, refresh_interval: 5s}]",
        }
    config = render("prometheus/prometheus.yml", tmp_path / "prometheus.yml", **env)
    result = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for folder in ("prometheus/rules", "alerts/rules"):  # every rule of the files Prometheus loads, found
        count = sum(
            len(g["rules"]) for p in (ROOT / folder).glob("*.yml") for g in yaml.safe_load(p.read_text())["groups"]
        )
        assert f"{count} rules found" in result.stdout, (folder, count, result.stdout)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    folder = tmp_path_factory.mktemp("prom")
    config = folder / "prometheus.yml"
    config.write_text("global: {scrape_interval: 15s}\n")
    prom = PrometheusServer(config, folder).start()
    yield prom
    prom.stop()


def parse_error(prom: PrometheusServer, expr: str) -> str | None:
    r = httpx.get(f"{prom.url}/api/v1/query", params={"query": expr}, timeout=10)
    return None if r.status_code == 200 else r.json().get("error", r.text)


def test_prometheus_parses_every_rule_expression(prometheus: PrometheusServer) -> None:
    errors = [(e, err) for e in rule_exprs() if (err := parse_error(prometheus, e))]
    assert not errors, errors


def test_draws_tells_a_blank_panel_from_one_that_draws(prometheus: PrometheusServer) -> None:
    """The drill's check (`drill.dashcheck.draws`), a range query over the board's range as Grafana sends it, is not
    vacuous: a query over a series nobody exports draws nothing, NaN draws nothing, a constant draws."""
    board = json.loads(DASHBOARDS[0].read_text())
    assert draws(prometheus, sent(board, "vector(1)"))
    assert not draws(prometheus, sent(board, "rate(no_such_series_total[$__rate_interval])"))
    assert not draws(prometheus, sent(board, "vector(NaN)"))


def test_prometheus_parses_every_dashboard_query(prometheus: PrometheusServer) -> None:
    errors = [(d, p, err) for d, p, expr in sent_exprs() if (err := parse_error(prometheus, expr))]
    assert not errors, errors


def test_every_dashboard_metric_exists() -> None:
    known = known_metric_names() | {"ALERTS"}
    records = {
        r["record"]
        for p in ROOT.glob("prometheus/rules*/*.yml")
        for g in yaml.safe_load(p.read_text())["groups"]
        for r in g["rules"]
    }
    words = {
        "sum",
        "rate",
        "by",
        "histogram_quantile",
        "increase",
        "max",
        "le",
        "job",
        "exporter",
        "alertname",
        "severity",
        "or",
        "and",
        "vector",
        "count",
        "instance",
        "on",
        "group_left",
        "slo",
        "result",
        "time",
        "avg",  # the exporters' and the monitoring's boards: their functions and label names
        "mode",
        "rule_group",
        "integration",
        "changes",  # the annotations: restarts and deploys
        "unless",
        "version",
    }
    words |= {label for doc in metric_docs() for label in doc.labels}  # the service's own label names
    for dash, panel, text in sent_exprs():
        expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]|\boffset\s+\d+[smhdwy]', " ", without_grouping(text))
        for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
            if token in words or token in records or re.fullmatch(r"e|\d+", token):
                continue
            assert token in known, f"{dash} / {panel}: {token} is not a known metric"


def test_the_infrastructure_jobs_are_the_scrape_jobs() -> None:
    """The jobs the infrastructure alerts select (alerts/thresholds.yaml) are jobs of prometheus.yml, and the
    probes' module is one the blackbox exporter's config defines."""
    template = (ROOT / "prometheus" / "prometheus.yml").read_text()
    jobs = set(re.findall(r"- job_name: ([\w-]+)", template))
    infra = load().infrastructure
    for job in (infra.node_job, infra.postgres_job, infra.probe_job, infra.prometheus_job, infra.alertmanager_job):
        assert job in jobs, job
    from jean_memory_dev.exporters import BLACKBOX_CONFIG, PROBE_MODULE

    assert PROBE_MODULE in yaml.safe_load(BLACKBOX_CONFIG.read_text())["modules"]
    assert f"module: [{PROBE_MODULE}]" in template


def test_dashboards_are_generated_and_stable() -> None:
    json_dir = layout.DASHBOARDS_JSON
    wanted = {path: text for path, text in outputs(load()).items() if path.parent == json_dir}
    assert problems(wanted, folders=(json_dir,)) == []
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert sorted(uids) == [
        "jm-cluster",
        "jm-errors",
        "jm-host",
        "jm-monitoring",
        "jm-overview",
        "jm-postgres",
        "jm-probes",
        "jm-quality",
        "jm-shuttle",
        "jm-slo",
        "jm-stm",
        "jm-telemetry",
        "jm-trends",
    ]


def test_dashboards_use_provisioned_datasources_and_show_targets() -> None:
    provisioned = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/datasources.yml").read_text())
    uids = {d["uid"]: d for d in provisioned["datasources"]}
    assert {"prometheus", "tempo", "alertmanager", "loki"} <= set(uids)
    prom = uids["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]
    assert prom == {"name": "trace_id", "datasourceUid": "tempo"}, "exemplars link to Tempo"
    template = (ROOT / "prometheus/prometheus.yml").read_text()
    scrape = re.search(r"scrape_interval: \$\{PROM_SCRAPE_INTERVAL:-(\w+)\}", template)
    assert scrape and uids["prometheus"]["jsonData"]["timeInterval"] == scrape[1], "Grafana knows the scrape interval"
    assert uids["tempo"]["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"
    for path in DASHBOARDS:
        variable = {v["name"]: v for v in json.loads(path.read_text())["templating"]["list"]}["datasource"]
        assert variable["type"] == "datasource" and variable["query"] == "prometheus", path.stem
        assert variable["current"]["value"] == "prometheus", f"{path.stem} opens on the provisioned Prometheus"
    for dash, panel, t in dashboard_exprs():
        assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (dash, panel)
    overview = json.loads((ROOT / "dashboards/json/jm-overview.json").read_text())
    panels = {p["title"]: p for p in overview["panels"]}
    for title in ("Memory creation latency", "Search latency"):
        assert all(t.get("exemplar") for t in panels[title]["targets"]), f"{title} shows exemplars"
    targets = load().targets
    steps = lambda title: [s["value"] for s in panels[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]]  # noqa: E731
    assert targets.creation_avg_seconds in steps("Memory creation latency")
    assert targets.cache_hit_ratio in steps("Cache hit rate")
    assert targets.throughput_ops_per_second in steps("Throughput")
    assert targets.error_ratio in steps("Error rate")
    assert targets.stm_bytes in steps("Process memory (RSS)")
    assert "Active alerts" in panels


def merged(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """Two collector `--config` files as the collector merges them: maps key by key, anything else replaced."""
    out = dict(base)
    for key, value in layer.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def collector_config() -> dict[str, Any]:
    """The collector's effective config: the files compose passes, in its order."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    files = [a.removeprefix("--config=") for a in compose["services"]["otel-collector"]["command"]]
    mounts = dict(reversed(v.split(":")[:2]) for v in compose["services"]["otel-collector"]["volumes"])
    config: dict[str, Any] = {}
    for f in files:
        config = merged(config, yaml.safe_load((ROOT / mounts[f]).read_text()))
    return config


def test_collector_config_structure() -> None:
    config = collector_config()
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline[kind]:
                assert component in config[kind], f"{name}: {kind[:-1]} {component} is not defined"
        assert pipeline["processors"][0] == "memory_limiter", "memory_limiter must come first"
        assert pipeline["processors"][-1] == "batch", "batch last: after sampling, before export"
    assert pipelines["traces"]["processors"] == ["memory_limiter", "tail_sampling", "batch"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/loki"]
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    assert "${env:TEMPO_OTLP_ENDPOINT}" in config["exporters"]["otlp/tempo"]["endpoint"]
    assert "${env:PROMETHEUS_OTLP_ENDPOINT}" in config["exporters"]["otlphttp/prometheus"]["metrics_endpoint"]
    assert config["exporters"]["otlphttp/loki"]["endpoint"] == "${env:LOKI_OTLP_ENDPOINT}"
    for ext in config["service"]["extensions"]:
        assert ext in config["extensions"]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    env = compose["services"]["otel-collector"]["environment"]
    assert {"TEMPO_OTLP_ENDPOINT", "PROMETHEUS_OTLP_ENDPOINT", "LOKI_OTLP_ENDPOINT"} <= set(env), "every endpoint set"
    assert env["LOKI_OTLP_ENDPOINT"] == "http://loki:3100/otlp", "Loki's native OTLP endpoint (3.x)"
    assert compose["services"]["loki"]["command"] == ["-config.file=/etc/loki/loki.yaml"]
    loki = yaml.safe_load((ROOT / "loki/loki.yaml").read_text())
    assert loki["limits_config"]["allow_structured_metadata"] is True, "OTLP attributes need structured metadata"
    assert loki["schema_config"]["configs"][-1]["schema"] == "v13"


def test_tail_sampling_numbers_come_from_the_slos() -> None:
    """Errors, every latency SLO's threshold on its routes, and the configured share of the rest; the
    service sends every trace in compose, so the decision is the collector's."""
    config = load()
    policies = {p["name"]: p for p in collector_config()["processors"]["tail_sampling"]["policies"]}
    assert policies["errors"] == {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}

    def slow(name: str) -> tuple[list[str], float]:
        route, latency = policies[name]["and"]["and_sub_policy"]
        assert route["string_attribute"]["key"] == "http.route"
        return route["string_attribute"]["values"], latency["latency"]["threshold_ms"] / 1000

    assert slow("slower-than-latency-slo") == (["^/v1/.*"], config.slo.latency.threshold_seconds)
    assert slow("slower-than-add-latency-slo") == (["/v1/memories"], config.slo.add_latency.threshold_seconds)
    assert slow("slower-than-search-latency-slo") == (["/v1/search"], config.slo.search_latency.threshold_seconds)
    rest = policies["probabilistic-rest"]["probabilistic"]["sampling_percentage"]
    assert rest == config.tail_sampling.keep_percent
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for name in ("service", "replica"):
        assert compose["services"][name]["environment"]["JM_TRACE_SAMPLE_RATIO"] == "${JM_TRACE_SAMPLE_RATIO:-1.0}"


def test_grafana_links_traces_and_logs_both_ways() -> None:
    provisioned = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/datasources.yml").read_text())
    uids = {d["uid"]: d for d in provisioned["datasources"]}
    assert uids["loki"]["type"] == "loki" and uids["loki"]["url"] == "http://loki:3100"
    (derived,) = uids["loki"]["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == "tempo" and derived["matcherType"] == "label"
    assert derived["matcherRegex"] == "trace_id", "the OTLP record's trace id (structured metadata)"
    to_logs = uids["tempo"]["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki"
    assert 'trace_id="$${__trace.traceId}"' in to_logs["query"]


def test_tempo_config_structure() -> None:
    config = yaml.safe_load((ROOT / "tempo/tempo.yaml").read_text())
    assert set(config["distributor"]["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    assert config["storage"]["trace"]["backend"] == "local"
    assert config["metrics_generator"]["storage"]["remote_write"][0]["url"].endswith("/api/v1/write")
    assert {"service-graphs", "span-metrics"} <= set(config["overrides"]["defaults"]["metrics_generator"]["processors"])
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert "--web.enable-remote-write-receiver" in compose["services"]["prometheus"]["command"]


def test_the_canary_is_named_once() -> None:
    """The canary's port, scrape job and schedule have one source each, which the others agree with: its
    port is `jean_memory.canary.DEFAULT_PORT` (.env.example, compose's default), its job and schedule are the
    thresholds file's `canary` (prometheus.yml's job, the command's defaults)."""
    from jean_memory import canary
    from jean_memory_dev.mixin import load

    config = load().canary
    env = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert int(env["CANARY_PORT"]) == canary.DEFAULT_PORT
    assert f"${{CANARY_PORT:-{canary.DEFAULT_PORT}}}:{canary.DEFAULT_PORT}" in (ROOT / "compose.yaml").read_text()
    template = (ROOT / "prometheus" / "prometheus.yml").read_text()  # a template: not YAML until rendered
    assert re.search(rf"^  - job_name: {re.escape(config.job)}$", template, re.M)
    parser = argparse.ArgumentParser()
    canary.add_arguments(parser)
    defaults = parser.parse_args([])
    assert (defaults.interval, defaults.search_timeout) == config.schedule(fast=False)
