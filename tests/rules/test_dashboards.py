"""The dashboards' replica filter and the Cluster dashboard: every dashboard has the `instance` variable,
every query over the service's series honours it, panels never read a per-job recording that a filter
could not narrow, the drill's substitution yields valid PromQL, and cluster thresholds come from the
config."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from jean_memory_dev.drill import with_all_selected
from jean_memory_dev.mixin import boards, load
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON, recording_rules
from jean_memory_dev.mixin.slos import JOB_LEVEL_RECORDS
from jean_memory_dev.paths import ROOT

JOB = load().service.job
_INFRA = load().infrastructure
#: The exporters' and the monitoring's own jobs: not replicas, so their panels carry no replica filter.
INFRASTRUCTURE_JOBS = (
    _INFRA.node_job,
    _INFRA.postgres_job,
    _INFRA.probe_job,
    _INFRA.prometheus_job,
    _INFRA.alertmanager_job,
)
FILTER = 'instance=~"$instance"'
#: The synthetic user's series: its own job, no replica of the service.
CANARY = f'job="{load().canary.job}"'


def job_level(expr: str) -> bool:
    """A query only over what is the job's by design: the SLOs' period, budget and metadata recordings
    (`slos.JOB_LEVEL_RECORDS`) and the canary's series."""
    rest = expr
    for record in JOB_LEVEL_RECORDS:
        rest = re.sub(re.escape(record) + r"[a-z0-9]*", " ", rest)
    rest = re.sub(r"jm_canary_[a-z_]+\{" + re.escape(CANARY), " ", rest)
    return not re.search(r"\bjm[_:]|http_server_|process_", rest)


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS_JSON.glob("*.json"))}


def queries(annotations: bool = False) -> Iterator[tuple[str, str, str]]:
    """Every PromQL panel query (and, asked, every annotation's) as (uid, panel or annotation, expr); the Errors
    board's LogQL target is Loki's."""
    for uid, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] != "loki":
                    yield uid, panel["title"], target["expr"]
        if annotations:
            for a in board["annotations"]["list"]:
                yield uid, f"annotation {a['name']}", a["expr"]


def panels(uid: str) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in dashboards()[uid]["panels"]}


def steps(panel: dict[str, Any]) -> list[float]:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_every_board_is_generated_including_the_cluster_board() -> None:
    assert set(dashboards()) == {b.uid for b in boards.BOARDS}
    assert dashboards()[boards.CLUSTER.uid]["title"] == boards.CLUSTER.title


def test_every_dashboard_has_the_replica_variable() -> None:
    for uid, board in dashboards().items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert "instance" in variables, uid
        v = variables["instance"]
        assert v["query"] == f'label_values(jm_build_info{{job="{JOB}"}}, instance)', uid
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*", uid
        assert v["current"]["value"] == ["$__all"], f"{uid} opens on All"


def test_every_query_over_the_service_is_filtered_by_replica() -> None:
    """The service's own series carry the filter; other jobs' series (the collector's, the stack's scrape
    targets) are not replicas and are left alone."""
    unfiltered = []
    for uid, title, expr in queries():
        service = f'job="{JOB}"' in expr or re.search(r"\bjm[_:]|http_server_|process_", expr)
        if service and FILTER not in expr and "ALERTS" not in expr and not job_level(expr):
            unfiltered.append(f"{uid} / {title}: {expr}")
        if not service and "ALERTS" not in expr:
            other_job = any(f'job="{job}"' in expr for job in INFRASTRUCTURE_JOBS)
            assert "otelcol_" in expr or f'job!="{JOB}"' in expr or other_job, f"{uid} / {title}: {expr}"
    assert not unfiltered, "\n".join(unfiltered)


def test_job_level_queries_read_only_job_level_series() -> None:
    """The exception above is narrow: a query mixing a per-replica series with a job-level one is not it."""
    assert job_level("jm:slo_error_budget_remaining:ratio_rate30d")
    assert job_level(f"sum(rate(jm_canary_rounds_total{{{CANARY}}}[5m]))")
    assert not job_level('jm:slo_errors:ratio_rate1h / sum(rate(jm_search_duration_seconds_count{job="x"}[5m]))')


def test_alerts_table_keeps_job_level_alerts_when_replicas_are_picked() -> None:
    table = panels(boards.OVERVIEW.uid)["Active alerts"]
    assert 'instance=~"$instance|"' in table["targets"][0]["expr"]


def test_panels_read_only_recordings_that_keep_the_replica() -> None:
    """A per-job recording has no `instance`: filtering it by replica would blank the panel."""
    rules = {
        r["record"]: r["expr"]
        for g in yaml.safe_load(recording_rules(fast=False).read_text())["groups"]
        for r in g["rules"]
    }
    for uid, title, expr in queries():
        for record in set(re.findall(r"\bjm:[a-z0-9_:]+", expr)):
            assert record in rules, f"{uid} / {title}: {record} is not recorded"
            if record.startswith(JOB_LEVEL_RECORDS):
                continue
            assert re.search(r"by \(job, instance\b", rules[record]), f"{uid} / {title}: {record} is per job"


def test_overview_breaks_throughput_and_latency_down_by_replica() -> None:
    overview = panels(boards.OVERVIEW.uid)
    for title in ("Throughput by replica", "Latency by replica (p99)"):
        assert all("by (instance" in t["expr"] for t in overview[title]["targets"]), title


def test_cluster_thresholds_come_from_the_config() -> None:
    cluster = load().cluster
    board = panels(boards.CLUSTER.uid)
    assert cluster.min_ready_replicas in steps(board["Replicas ready"])
    assert cluster.min_ready_replicas in steps(board["Replicas: expected, up, ready"])
    assert cluster.embed_queue_oldest_seconds in steps(board["Embedding queue oldest age"])
    assert cluster.invalidation_lag_p99_seconds in steps(board["Invalidation lag"])


def test_cluster_board_covers_replicas_coherence_queue_and_postgres() -> None:
    used = " ".join(t["expr"] for p in panels(boards.CLUSTER.uid).values() for t in p.get("targets", []))
    for metric in (
        "up",
        "jm_ready",
        "jm_cluster_version_checks_total",
        "jm_cluster_catchups_total",
        "jm_cluster_invalidations_total",
        "jm_cluster_invalidation_lag_seconds_bucket",
        "jm_cluster_version_check_duration_seconds_bucket",
        "jm_cluster_embed_queue",
        "jm_cluster_embed_queue_oldest_age_seconds",
        "jm_cluster_embed_claims_total",
        "jm_cluster_pg_pool_connections",
        "jm_cluster_commit_duration_seconds_bucket",
        "jm_cluster_commit_group_size_sum",
    ):
        assert re.search(rf"\b{metric}\{{", used), metric


def test_the_drills_queries_are_valid_promql(tmp_path: Path) -> None:
    """The drill runs each query with every variable on All: nothing of Grafana's may be left, and
    promtool must parse what remains (each query wrapped as a rule)."""
    rules = []
    for i, (uid, title, expr) in enumerate(queries(annotations=True)):
        sent = with_all_selected(dashboards()[uid], expr)
        assert "$" not in sent, f"{uid} / {title}: {sent}"
        rules.append({"record": f"dashboard:query:{i}", "expr": sent})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_panels_of_one_mode_exist_and_say_why() -> None:
    """The drills check every panel that applies to the mode they run: a panel declared for one mode only
    must exist, and carry its reason."""
    for ref, (modes, why) in boards.PANEL_MODES.items():
        assert ref.panel in panels(ref.board.uid), f"{ref.board.title} has no panel {ref.panel!r}"
        assert modes and modes != boards.BOTH and why, ref
    assert not boards.applies(boards.SHUTTLE, "Batch size", boards.Mode.CLUSTER)
    assert boards.applies(boards.SHUTTLE, "LTM up", boards.Mode.CLUSTER)
    assert not boards.applies(boards.CLUSTER, "Commit latency", boards.Mode.EMBEDDED)
    assert boards.applies(boards.CLUSTER, "Up and ready by replica", boards.Mode.EMBEDDED)


def test_errors_board_follows_the_dashboard_rules() -> None:
    """The Errors board (error rates by type and route, exemplars, Loki's latest error lines) is built to the
    rules every board is held to: `$__rate_interval`, datasource variables, descriptions, links to the other
    boards and the runbook, annotations for alerts and restarts."""
    board = dashboards()[boards.ERRORS.uid]
    assert board["description"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == variables["loki"]["type"] == "datasource"
    assert (variables["datasource"]["query"], variables["loki"]["query"]) == ("prometheus", "loki")
    assert variables["instance"]["datasource"]["uid"] == "${datasource}"
    for panel in board["panels"]:
        assert panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in ("${datasource}", "${loki}"), panel["title"]
            if target["datasource"]["type"] == "prometheus":
                windows = re.findall(r"\[([^\]]+)\]", target["expr"])
                assert windows and set(windows) == {"$__rate_interval"}, (panel["title"], target["expr"])
    by_title = panels(boards.ERRORS.uid)
    assert any(t.get("exemplar") for t in by_title["Latency by status class (p99, exemplars)"]["targets"])
    logs = by_title["Latest error lines"]
    assert logs["type"] == "logs" and logs["datasource"] == {"type": "loki", "uid": "${loki}"}
    assert logs["targets"][0]["expr"].startswith(f'{{service_name="{JOB}"}}'), "Loki's label for OTLP service.name"
    links = {link["type"]: link for link in board["links"]}
    assert links["dashboards"]["tags"] == ["jean-memory"]
    runbook = links["link"]["url"]
    assert (ROOT / "alerts" / "runbooks" / runbook.rsplit("/", 1)[1]).is_file()
    annotations = {a["name"]: a["expr"] for a in board["annotations"]["list"]}
    assert annotations["Alerts"].startswith("ALERTS{") and "process_start_time_seconds" in annotations["Restarts"]
