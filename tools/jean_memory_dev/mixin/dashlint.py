"""The dashboards' lint: what makes a board usable at 3 a.m., checked on the JSON Grafana loads.

Each problem names the dashboard and the panel:

- a rate(), irate(), increase(), changes() or resets() of a Prometheus query (a panel's or an annotation's)
  over a fixed window instead of `$__rate_interval` (a fixed window draws gaps on a slow scrape and hides
  spikes when zoomed out; recording rules keep theirs, and a panel reading `jm:...:rate5m` has no window of
  its own). A panel may keep a fixed window only where `boards.FIXED_WINDOWS` says why;
- a dashboard or a panel without a description;
- a Prometheus panel or query not reading from the `datasource` variable (a Loki panel may read a Loki
  variable or datasource: LogQL has no `$__rate_interval`, so its windows are not checked);
- a dashboard without links to the other boards (a `dashboards` link by a tag it carries itself), or a panel
  without a link to the runbook of an alert that names it (its `answers` in the catalogue);
- a dashboard without the annotations of alerts firing (Prometheus's `ALERTS{alertstate="firing"}`, or an
  Alertmanager datasource) and of restarts (`changes()` of `process_start_time_seconds`, or `resets()`).

    python3 -m jean_memory_dev dashlint     # scripts/lint, so `make check`; tests/rules/test_dashlint.py too
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jean_memory_dev.mixin.boards import BOARDS, FIXED_WINDOWS
from jean_memory_dev.mixin.catalogue import CATALOGUE, runbook_url
from jean_memory_dev.mixin.config import load
from jean_memory_dev.mixin.grafana import DATASOURCE, RATE_INTERVAL
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON

#: Windows that follow the panel: Grafana's rate interval, and the whole range (a stat over the time picked).
GRAFANA_WINDOWS = frozenset({RATE_INTERVAL, "${__rate_interval}", "$__range", "${__range}"})
_RANGE_FUNCTIONS = re.compile(r"\b(rate|irate|increase|changes|resets)\s*\(")
_VARIABLE = re.compile(r"^\$\{?(\w+)\}?$")


def _call_argument(expr: str, start: int) -> str:
    """The text between the parenthesis opening at `start` and the one that closes it."""
    depth = 0
    for i in range(start, len(expr)):
        if expr[i] == "(":
            depth += 1
        elif expr[i] == ")":
            depth -= 1
            if depth == 0:
                return expr[start + 1 : i]
    return expr[start + 1 :]


def fixed_windows(expr: str) -> list[str]:
    """`rate(x[5m])` -> `['rate(...[5m])']`: the range functions whose window is not Grafana's."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values may hold brackets
    found = []
    for match in _RANGE_FUNCTIONS.finditer(text):
        argument = _call_argument(text, match.end() - 1)
        windows = re.findall(r"\[([^\]]*)\]", argument)
        window = windows[-1].split(":")[0].strip() if windows else ""
        if window not in GRAFANA_WINDOWS:
            found.append(f"{match[1]}(...[{window}])")
    return found


def _variables(board: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {v["name"]: v for v in board.get("templating", {}).get("list", [])}


def _datasource_problem(board: Mapping[str, Any], datasource: Any) -> str | None:
    """Why a panel's or query's datasource is not one the board may read from, or None."""
    if not isinstance(datasource, Mapping):
        return f"datasource {datasource!r} is not the ${DATASOURCE} variable"
    kind, uid = datasource.get("type"), str(datasource.get("uid", ""))
    variable = _VARIABLE.match(uid)
    if kind == "loki":
        return None  # a Loki variable or the provisioned Loki: LogQL, not checked here
    if kind != "prometheus":
        return f"datasource {dict(datasource)} is neither Prometheus (${DATASOURCE}) nor Loki"
    declared = _variables(board).get(variable[1]) if variable else None
    if not declared or declared.get("type") != "datasource" or declared.get("query") != "prometheus":
        return f"Prometheus datasource {uid!r} is not the ${DATASOURCE} variable"
    return None


def _panels(panels: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every panel but rows, those inside collapsed rows included."""
    for panel in panels:
        if panel.get("type") == "row":
            yield from _panels(panel.get("panels", []))
        else:
            yield panel


def _lint_annotations(board: Mapping[str, Any], name: str) -> list[str]:
    problems = []
    listed = [a for a in board.get("annotations", {}).get("list", []) if not a.get("builtIn")]
    exprs = [str(a.get("expr", "")) for a in listed]
    alerts = any(re.search(r"\bALERTS\{[^}]*alertstate=\"firing\"", e) for e in exprs) or any(
        isinstance(a.get("datasource"), Mapping) and a["datasource"].get("type") == "alertmanager" for a in listed
    )
    restarts = any(re.search(r"changes\s*\(\s*process_start_time_seconds\b|\bresets\s*\(", e) for e in exprs)
    if not alerts:
        problems.append(f'{name}: no annotation of alerts firing (ALERTS{{alertstate="firing"}} or Alertmanager)')
    if not restarts:
        problems.append(f"{name}: no annotation of restarts (changes(process_start_time_seconds[...]) or resets())")
    for a in listed:
        where = f"{name} / annotation {a.get('name')!r}"
        if a.get("datasource", {}).get("type") == "prometheus":
            if problem := _datasource_problem(board, a.get("datasource")):
                problems.append(f"{where}: {problem}")
            problems += [f"{where}: {w} is a fixed window, use {RATE_INTERVAL}" for w in fixed_windows(a["expr"])]
    return problems


def lint(
    board: Mapping[str, Any],
    runbooks: Mapping[str, frozenset[str]] | None = None,
    fixed: Mapping[str, str] | None = None,
) -> list[str]:
    """Every problem of one dashboard's JSON. `runbooks`: the runbook URLs each panel (by title) must link to;
    `fixed`: panels (by title) allowed a fixed rate window, with the reason."""
    runbooks, fixed = runbooks or {}, fixed or {}
    name = f"{board.get('uid')} ({board.get('title')})"
    problems = []
    if not str(board.get("description", "")).strip():
        problems.append(f"{name}: no description")
    declared = _variables(board).get(DATASOURCE, {})
    if declared.get("type") != "datasource" or declared.get("query") != "prometheus":
        problems.append(f"{name}: no `{DATASOURCE}` variable of type datasource over Prometheus")
    tags = set(board.get("tags", []))
    if not any(
        link.get("type") == "dashboards" and link.get("tags") and set(link["tags"]) <= tags
        for link in board.get("links", [])
    ):
        problems.append(f"{name}: no links to the other boards (a `dashboards` link by one of its own tags)")
    problems += _lint_annotations(board, name)
    for panel in _panels(list(board.get("panels", []))):
        title = panel.get("title", "")
        where = f"{name} / panel {title!r}"
        if not str(panel.get("description", "")).strip():
            problems.append(f"{where}: no description")
        if panel.get("targets") and (problem := _datasource_problem(board, panel.get("datasource"))):
            problems.append(f"{where}: {problem}")  # a panel that queries nothing (text) reads no datasource
        for target in panel.get("targets", []):
            datasource = target.get("datasource", panel.get("datasource"))
            if problem := _datasource_problem(board, datasource):
                problems.append(f"{where} / query {target.get('refId')}: {problem}")
            if isinstance(datasource, Mapping) and datasource.get("type") == "prometheus" and title not in fixed:
                problems += [
                    f"{where} / query {target.get('refId')}: {w} is a fixed window, use {RATE_INTERVAL}"
                    for w in fixed_windows(str(target.get("expr", "")))
                ]
        linked = {link.get("url") for link in panel.get("links", [])}
        problems += [f"{where}: no link to the runbook {url}" for url in sorted(set(runbooks.get(title, ())) - linked)]
    return problems


def expected_runbooks() -> dict[str, dict[str, frozenset[str]]]:
    """By dashboard uid and panel title: the runbooks of the alerts that name the panel."""
    config = load()
    out: dict[str, dict[str, set[str]]] = {}
    for alert, spec in CATALOGUE.items():
        for ref in spec.answers:
            out.setdefault(ref.board.uid, {}).setdefault(ref.panel, set()).add(runbook_url(config, alert))
    return {uid: {title: frozenset(urls) for title, urls in panels.items()} for uid, panels in out.items()}


def lint_files(folder: Path = DASHBOARDS_JSON) -> list[str]:
    """Every problem of every dashboard JSON in `folder`."""
    runbooks = expected_runbooks()
    fixed: dict[str, dict[str, str]] = {}
    for ref, why in FIXED_WINDOWS.items():
        fixed.setdefault(ref.board.uid, {})[ref.panel] = why
    known = {b.uid for b in BOARDS}
    problems = []
    for path in sorted(folder.glob("*.json")):
        board = json.loads(path.read_text())
        if board.get("uid") not in known:
            problems.append(f"{path.name}: uid {board.get('uid')!r} is not a board of boards.BOARDS")
        problems += lint(board, runbooks.get(board.get("uid", ""), {}), fixed.get(board.get("uid", ""), {}))
    return problems


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else DASHBOARDS_JSON
    problems = lint_files(folder)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"dashboards: {len(list(folder.glob('*.json')))} boards lint clean")
    return 1 if problems else 0
