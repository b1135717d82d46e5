"""The rule files Prometheus loads: valid, unit-tested per alert, linked to runbooks, using real metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from jean_memory_dev.mixin import Alert
from tests.helpers import known_metric_names, without_grouping

ROOT = Path(__file__).resolve().parents[2]

RULE_FILES = sorted([*ROOT.glob("alerts/rules*/*.yml"), *ROOT.glob("prometheus/rules*/*.yml")])


def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def alerts(path: str = "alerts/rules/jean-memory.alerts.yml") -> list[dict]:
    return [r for g in yaml.safe_load((ROOT / path).read_text())["groups"] for r in g["rules"]]


def test_generated_rules_match_the_thresholds() -> None:
    result = run(sys.executable, "-m", "jean_memory_dev", "generate", "--check")
    assert result.returncode == 0, result.stderr


def test_promtool_check_rules() -> None:
    result = run("promtool", "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = run("promtool", "test", "rules", "jean-memory.test.yml", cwd=ROOT / "alerts" / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    tests = yaml.safe_load((ROOT / "alerts" / "tests" / "jean-memory.test.yml").read_text())["tests"]
    fires: set[str] = set()
    silent: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names <= fires, names - fires
    assert names - {Alert.WATCHDOG} <= silent, names - silent


def test_every_alert_is_labelled_annotated_and_has_a_runbook() -> None:
    runbooks = {p.stem for p in (ROOT / "alerts" / "runbooks").glob("*.md")}
    for path in ("alerts/rules/jean-memory.alerts.yml", "alerts/rules-fast/jean-memory.alerts.yml"):
        for rule in alerts(path):
            name = rule["alert"]
            assert rule["labels"]["severity"] in ("critical", "warning", "none"), name
            assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
            assert rule["annotations"]["runbook_url"].endswith(f"/{name}.md"), name
            assert name in runbooks, f"no runbook for {name}"
    assert runbooks == {a["alert"] for a in alerts()}, "every runbook belongs to an alert"


def test_fast_rules_differ_from_production_only_in_timing() -> None:
    prod, fast = alerts(), alerts("alerts/rules-fast/jean-memory.alerts.yml")
    assert [a["alert"] for a in prod] == [a["alert"] for a in fast]
    for p, f in zip(prod, fast, strict=True):
        assert p["labels"] == f["labels"] and p["annotations"]["summary"] == f["annotations"]["summary"]


def test_every_metric_used_exists() -> None:
    import re

    known = known_metric_names()
    records = {
        r["record"]
        for p in ROOT.glob("prometheus/rules*/*.yml")
        for g in yaml.safe_load(p.read_text())["groups"]
        for r in g["rules"]
    }
    functions = {
        "sum",
        "rate",
        "by",
        "histogram_quantile",
        "max",
        "or",
        "and",
        "vector",
        "absent_over_time",
        "deriv",
        "predict_linear",
        "on",
        "le",
        "job",
        "without",
        "bool",
        "instance",
        "avg",
        "avg_over_time",
        "count",
        "group_left",
        "integration",
        "rule_group",
        "slo",
    }
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', " ", without_grouping(rule["expr"]))
                for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
                    if token in functions or token in records:
                        continue
                    assert token in known, f"{path.name}: {token} is not a metric the service or collector exposes"


def test_the_drills_whole_window_checks_are_valid_promql(tmp_path: Path) -> None:
    """The queries that decide whether a healthy window's tolerated ticket was noise (`drill/noise.py`) are
    only run by the drill against a live Prometheus: promtool parses them here first."""
    from jean_memory_dev.drill.noise import TOLERATED, breaches

    checks = breaches(120)
    assert set(checks) == {name for name, _ in TOLERATED}
    rules = {
        "groups": [
            {"name": "noise", "rules": [{"record": f"drill:{i}", "expr": e} for i, e in enumerate(checks.values())]}
        ]
    }
    path = tmp_path / "noise.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run("promtool", "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
