"""The dashboards' lint (`mixin/dashlint.py`, run by `make check`): every generated board passes, each rule
reports a deliberately bad board by dashboard and panel (so a clean run is not vacuous), a Loki panel is
accepted, and the rate window the harness substitutes is Grafana's."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashlint import expected_runbooks, fixed_windows, lint, lint_files
from jean_memory_dev.mixin.grafana import as_sent, interval_seconds, rate_interval_seconds, round_interval
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON

ROOT = Path(__file__).resolve().parents[2]
PROM = {"type": "prometheus", "uid": "${datasource}"}


def good_board() -> dict[str, Any]:
    """The smallest board the lint accepts."""
    return {
        "uid": "probe",
        "title": "Probe board",
        "description": "What this board answers.",
        "tags": ["jean-memory"],
        "links": [{"type": "dashboards", "tags": ["jean-memory"], "asDropdown": True}],
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "instance", "type": "query", "allValue": ".*", "datasource": PROM},
            ]
        },
        "annotations": {
            "list": [
                {"name": "Alerts", "datasource": PROM, "expr": 'ALERTS{alertstate="firing"}'},
                {
                    "name": "Restarts",
                    "datasource": PROM,
                    "expr": "changes(process_start_time_seconds[$__rate_interval]) > 0",
                },
            ]
        },
        "panels": [
            {"type": "row", "title": "A row", "panels": []},
            {
                "type": "timeseries",
                "title": "Errors",
                "description": "5xx share: above the line, open the runbook.",
                "datasource": PROM,
                "links": [{"title": "Runbook", "url": "https://runbooks/Errors.md"}],
                "targets": [
                    {
                        "refId": "A",
                        "datasource": PROM,
                        "expr": 'sum(rate(x_total{code="5xx", instance=~"$instance"}[$__rate_interval]))',
                    }
                ],
            },
        ],
    }


RUNBOOKS = {"Errors": frozenset({"https://runbooks/Errors.md"})}


def test_every_generated_board_lints_clean() -> None:
    assert lint_files() == []


def test_the_lint_runs_in_make_check() -> None:
    assert "python3 -m jean_memory_dev dashlint" in (ROOT / "scripts" / "lint").read_text()
    result = subprocess.run(
        [sys.executable, "-m", "jean_memory_dev", "dashlint"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(boards.BOARDS)} boards lint clean" in result.stdout


def test_a_good_board_passes() -> None:
    assert lint(good_board(), RUNBOOKS) == []


def _broken(change: str) -> dict[str, Any]:
    board = good_board()
    panel = board["panels"][1]
    if change == "fixed window":
        panel["targets"][0]["expr"] = 'sum(rate(x_total{code="5xx"}[5m]))'
    elif change == "increase window":
        panel["targets"][0]["expr"] = "sum(increase(x_total[1h]))"
    elif change == "panel description":
        panel["description"] = " "
    elif change == "board description":
        del board["description"]
    elif change == "fixed datasource":
        panel["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    elif change == "query datasource":
        panel["targets"][0]["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    elif change == "no variable":
        board["templating"]["list"] = board["templating"]["list"][1:]
    elif change == "links":
        board["links"] = [{"type": "dashboards", "tags": ["someone-else"]}]
    elif change == "runbook":
        panel["links"] = []
    elif change == "alerts annotation":
        board["annotations"]["list"] = board["annotations"]["list"][1:]
    elif change == "restarts annotation":
        board["annotations"]["list"] = board["annotations"]["list"][:1]
    elif change == "annotation window":
        board["annotations"]["list"][1]["expr"] = "changes(process_start_time_seconds[5m]) > 0"
    return board


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        ("fixed window", "probe (Probe board) / panel 'Errors' / query A: rate(...[5m]) is a fixed window"),
        ("increase window", "probe (Probe board) / panel 'Errors' / query A: increase(...[1h]) is a fixed window"),
        ("panel description", "probe (Probe board) / panel 'Errors': no description"),
        ("board description", "probe (Probe board): no description"),
        ("fixed datasource", "probe (Probe board) / panel 'Errors': Prometheus datasource 'prometheus' is not"),
        ("query datasource", "probe (Probe board) / panel 'Errors' / query A: Prometheus datasource 'prometheus'"),
        ("no variable", "probe (Probe board): no `datasource` variable"),
        ("links", "probe (Probe board): no links to the other boards"),
        ("runbook", "probe (Probe board) / panel 'Errors': no link to the runbook https://runbooks/Errors.md"),
        ("alerts annotation", "probe (Probe board): no annotation of alerts firing"),
        ("restarts annotation", "probe (Probe board): no annotation of restarts"),
        ("annotation window", "probe (Probe board) / annotation 'Restarts': changes"),
    ],
)
def test_a_bad_board_is_reported_by_dashboard_and_panel(change: str, reported: str) -> None:
    problems = lint(_broken(change), RUNBOOKS)
    assert any(p.startswith(reported) for p in problems), problems
    # one problem, but for the variable gone: then also each of the four places that name it
    assert len(problems) == (5 if change == "no variable" else 1), problems


def test_the_generated_boards_break_the_lint_when_spoiled() -> None:
    """The probe on a real board: the Overview with one window fixed and one description gone."""
    board = json.loads((DASHBOARDS_JSON / f"{boards.OVERVIEW.uid}.json").read_text())
    spoiled = copy.deepcopy(board)
    panel = next(p for p in spoiled["panels"] if p["title"] == "Error rate")
    panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace("$__rate_interval", "5m")
    panel["description"] = ""
    problems = lint(spoiled, expected_runbooks()[boards.OVERVIEW.uid])
    assert lint(board, expected_runbooks()[boards.OVERVIEW.uid]) == []
    assert "jm-overview (Jean Memory / Overview) / panel 'Error rate': no description" in problems, problems
    assert any("panel 'Error rate' / query A: rate(...[5m]) is a fixed window" in p for p in problems), problems


def test_a_loki_panel_is_accepted() -> None:
    """A logs panel reads Loki (a variable or the provisioned datasource): no Prometheus rate window applies."""
    board = good_board()
    board["templating"]["list"].append({"name": "loki", "type": "datasource", "query": "loki"})
    for datasource in ({"type": "loki", "uid": "${loki}"}, {"type": "loki", "uid": "loki"}):
        board["panels"].append(
            {
                "type": "logs",
                "title": f"Latest errors {datasource['uid']}",
                "description": "The newest error lines; click a trace id for its trace.",
                "datasource": datasource,
                "targets": [{"refId": "A", "datasource": datasource, "expr": 'sum(rate({level="error"}[5m]))'}],
            }
        )
    assert lint(board, RUNBOOKS) == []


def test_a_text_panel_needs_no_datasource_but_a_description() -> None:
    board = good_board()
    board["panels"].append({"type": "text", "title": "How to read this board", "description": "Read me first."})
    assert lint(board, RUNBOOKS) == []
    board["panels"][-1]["description"] = ""
    assert lint(board, RUNBOOKS) == ["probe (Probe board) / panel 'How to read this board': no description"]


def test_a_tempo_panel_is_not_prometheus() -> None:
    board = good_board()
    board["panels"][1]["datasource"] = {"type": "tempo", "uid": "tempo"}
    assert any("neither Prometheus" in p for p in lint(board, RUNBOOKS))


def test_fixed_windows_finds_each_range_function() -> None:
    assert fixed_windows("rate(a[5m]) / rate(b[$__rate_interval])") == ["rate(...[5m])"]
    assert fixed_windows('irate(a{x="[1m]"}[30s])') == ["irate(...[30s])"]
    assert fixed_windows("increase(a[$__range]) + deriv(b[5m])") == []
    assert fixed_windows("rate(max_over_time(a[1m])[10m:1m])") == ["rate(...[10m])"]
    assert fixed_windows("histogram_quantile(0.99, sum by (le) (rate(a_bucket[$__rate_interval])))") == []
    assert fixed_windows("jm:api_latency:avg5m > 0.05") == []


def test_the_panels_allowed_a_fixed_window_exist_and_say_why() -> None:
    for ref, why in boards.FIXED_WINDOWS.items():
        titles = {p["title"] for p in json.loads((DASHBOARDS_JSON / f"{ref.board.uid}.json").read_text())["panels"]}
        assert ref.panel in titles and why, ref


def test_the_rate_interval_is_grafanas() -> None:
    """max($__interval + scrape, 4 x scrape), $__interval the range over the points asked for, rounded as
    Grafana rounds, never under the scrape interval."""
    assert round_interval(3.6) == 5 and round_interval(86.4) == 60 and round_interval(604.8) == 600
    assert rate_interval_seconds(interval_seconds(3600, 15), 15) == 60  # 1 h at 15 s: 4 scrapes
    assert rate_interval_seconds(interval_seconds(86400, 15), 15) == 75  # a day: the 1 m step and a scrape
    assert rate_interval_seconds(interval_seconds(7 * 86400, 15), 15) == 615
    assert rate_interval_seconds(interval_seconds(3600, 1), 1) == 6  # the drill's 1 s scrape
    sent = as_sent(good_board(), good_board()["panels"][1]["targets"][0]["expr"], 15)
    assert sent.expr == 'sum(rate(x_total{code="5xx", instance=~".*"}[60s]))'
    assert (sent.range_seconds, sent.step_seconds) == (3600, 15)


def test_a_board_with_log_panels_built_from_the_shared_helpers_passes() -> None:
    """How an Errors board with a Loki panel complies: `make_dashboard(..., variables=[loki_variable()])` and
    `logs()` beside the Prometheus panels."""
    from jean_memory_dev.mixin.dashboards import to_json
    from jean_memory_dev.mixin.dashboards.common import (
        RATE,
        SEL,
        logs,
        loki_variable,
        make_dashboard,
        target,
        timeseries,
    )

    board = boards.Board("jm-probe-logs", "Jean Memory / Probe logs", "Errors and their log lines.")
    built = make_dashboard(
        board,
        [
            timeseries(
                "Errors by type",
                [target(f"sum by (type) (rate(jm_errors_total{{{SEL}}}[{RATE}]))", "{{type}}")],
                (0, 0, 24, 8),
                "ops",
                description="Errors per second by type.",
            ),
            logs(
                "Latest errors", '{service_name="jean-memory"} | json | level="ERROR"', (0, 8, 24, 8), "Newest first."
            ),
        ],
        variables=[loki_variable()],
    )
    data = json.loads(to_json(built))
    assert lint(data) == []
    assert {v["name"]: v["query"] for v in data["templating"]["list"]}["loki"] == "loki"
