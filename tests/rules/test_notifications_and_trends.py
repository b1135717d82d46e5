"""What a notification carries (value, runbook, the dashboard panel that answers the alert), and the trend
rules and Trends dashboard that show a slow regression before it pages."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

import yaml

from jean_memory_dev.mixin import CATALOGUE, Alert, load
from jean_memory_dev.mixin.boards import TRENDS
from jean_memory_dev.mixin.catalogue import ThresholdAlert
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON, alert_rules, recording_rules
from jean_memory_dev.mixin.promql import TREND


def rules(fast: bool = False) -> list[dict]:
    return [r for g in yaml.safe_load(alert_rules(fast).read_text())["groups"] for r in g["rules"]]


def groups(fast: bool = False) -> dict[str, dict]:
    return {g["name"]: g for g in yaml.safe_load(recording_rules(fast).read_text())["groups"]}


def test_every_alert_links_the_panel_that_answers_it() -> None:
    config = load()
    boards = {p.stem: json.loads(p.read_text()) for p in DASHBOARDS_JSON.glob("*.json")}
    for fast in (False, True):
        for rule in rules(fast):
            url = urlparse(rule["annotations"]["dashboard_url"])
            assert f"{url.scheme}://{url.netloc}" == config.service.dashboard_base_url
            uid = url.path.removeprefix("/d/")
            query = parse_qs(url.query)
            panel = next(p for p in boards[uid]["panels"] if str(p["id"]) == query["viewPanel"][0])
            first = CATALOGUE[Alert(rule["alert"])].answers[0]
            assert (uid, panel["title"]) == (first.board.uid, first.panel), rule["alert"]
            spec = CATALOGUE[Alert(rule["alert"])]
            if isinstance(spec, ThresholdAlert) and spec.link_instance:
                assert query["var-instance"] == ["{{ $labels.instance }}"]


def test_every_alert_says_its_value_as_a_person_reads_it() -> None:
    for rule in rules():
        value = rule["annotations"]["value"]
        assert value, rule["alert"]
        for rendering in re.findall(r"\{\{[^}]*\$value[^}]*\}\}", value):  # rendered as in the description
            assert rendering in rule["annotations"]["description"], rule["alert"]


def test_trend_rules_keep_the_replica_and_run_on_their_interval() -> None:
    config = load()
    trends = groups()["jean-memory.trends"]
    assert trends["interval"] == config.trends.interval
    for rule in trends["rules"]:
        assert rule["record"].startswith(TREND) and rule["record"].endswith(config.trends.window)
        assert re.search(r"by \(job, instance\b", rule["expr"]), rule["record"]
        assert f"[{config.trends.window}]" in rule["expr"], rule["record"]
    assert "jean-memory.trends" not in groups(fast=True), "the drill loads the production copy"


def test_trends_dashboard_compares_now_with_the_configured_offsets() -> None:
    config = load()
    board = json.loads((DASHBOARDS_JSON / f"{TRENDS.uid}.json").read_text())
    recorded = {r["record"] for r in groups()["jean-memory.trends"]["rules"]}
    figures = [p for p in board["panels"] if p["type"] == "timeseries"]
    assert len(figures) >= 7
    for panel in figures:
        exprs = [t["expr"] for t in panel["targets"]]
        assert "offset" not in exprs[0], f"{panel['title']}: the first line is now"
        assert [re.findall(r"offset (\w+)", e)[0] for e in exprs[1:]] == list(config.trends.compare), panel["title"]
        used = set(re.findall(r"jm:trend_[a-z_]+:[a-z]+\d+[smhdw]", " ".join(exprs)))
        assert used and used <= recorded, panel["title"]
        assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] > 0, "the plan's target is drawn"
    changes = [p for p in board["panels"] if p["type"] == "stat"]
    assert len(changes) == len(figures)
