"""The alert catalogue is the one place alert names are typed; every alert has a runbook template and a
runbook and nothing else does; panels it names exist; the config and templates fail loudly."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from jean_memory.cluster.embedqueue import JANITOR_INTERVAL_S, QUEUE_STATE_INTERVAL_S
from jean_memory.config import Settings
from jean_memory_dev.mixin import CATALOGUE, CLUSTER_ALERTS, Alert, ConfigError, Context, load, runbook_url
from jean_memory_dev.mixin import catalogue as catalogue_module
from jean_memory_dev.mixin.boards import SYMPTOMS, PanelRef
from jean_memory_dev.mixin.context import PlaceholderError
from jean_memory_dev.mixin.docs import TARGETS
from jean_memory_dev.mixin.generate import orphans
from jean_memory_dev.mixin.layout import DASHBOARDS_JSON, RUNBOOK_TEMPLATES, RUNBOOKS, SOURCE, alert_rules

ROOT = Path(__file__).resolve().parents[2]

#: An alert name in quotes, as the brief for this check puts it; the `[h]` keeps this line from matching.
QUOTED_NAME = re.compile(r"[\"'](JeanMemory[A-Z]\w+|Watc[h]dog)[\"']")
#: Inside a string literal: any CamelCase alert name, or the Watchdog where it is a value (`=Watchdog`).
NAME_IN_STRING = re.compile(r"JeanMemory[A-Z]\w+|^Watc[h]dog$|[\"'=]Watc[h]dog\b")


def python_files() -> list[Path]:
    """Every Python file of the checkout, committed or not (ignored ones aside), that exists now."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / p for p in listed if (ROOT / p).is_file()]


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def names_typed_in(path: Path) -> list[str]:
    """Alert names spelt out in a file's string literals (docstrings aside: prose may name an alert)."""
    source = path.read_text()
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = [f"{where}: {m.group(0)}" for m in QUOTED_NAME.finditer(source)]
    tree = ast.parse(source, str(path))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found += [f"{where}:{node.lineno}: {m.group(0)}" for m in NAME_IN_STRING.finditer(node.value)]
    return found


def test_alert_names_are_typed_only_in_the_catalogue() -> None:
    catalogue = Path(catalogue_module.__file__).resolve()
    # The client distribution (clients/) ships to users and knows no alert; its `JeanMemoryError` and the
    # like are class names of its own, not alert names.
    clients = ROOT / "clients"
    files = [p for p in python_files() if p.resolve() != catalogue and not p.is_relative_to(clients)]
    assert len(files) > 50, "the scan must see the checkout's Python files"
    typed = [hit for path in files for hit in names_typed_in(path)]
    assert not typed, "use jean_memory_dev.mixin.Alert instead:\n" + "\n".join(typed)


def test_the_name_check_catches_a_typed_name(tmp_path: Path) -> None:
    name = Alert.HIGH_LATENCY.value
    sample = tmp_path / "sample.py"
    sample.write_text(f"FIRING = {name!r}\nQUERY = 'ALERTS{{alertname=\"{Alert.WATCHDOG.value}\"}}'\n")
    assert len(names_typed_in(sample)) >= 2


def test_every_alert_has_a_template_and_a_runbook_and_nothing_else_does() -> None:
    names = {a.value for a in Alert}
    assert set(CATALOGUE) == set(Alert)
    assert {p.stem for p in RUNBOOK_TEMPLATES.glob("*.md")} == names, "one template per alert, no orphan"
    assert {p.stem for p in RUNBOOKS.glob("*.md")} == names, "one runbook per alert, no orphan"
    assert {p.name for p in RUNBOOK_TEMPLATES.iterdir()} == {a.runbook for a in Alert}


def test_templates_name_only_alerts_that_exist() -> None:
    names = {a.value for a in Alert}
    for template in RUNBOOK_TEMPLATES.glob("*.md"):
        mentioned = set(re.findall(r"JeanMemory[A-Z]\w+", template.read_text()))
        assert mentioned <= names, f"{template.name}: {mentioned - names}"


def test_runbook_links_are_derived_from_the_name() -> None:
    config = load()
    for fast in (False, True):
        for rule in yaml.safe_load(alert_rules(fast).read_text())["groups"][0]["rules"]:
            alert = Alert(rule["alert"])
            assert rule["annotations"]["runbook_url"] == runbook_url(config, alert)
            assert (RUNBOOKS / alert.runbook).is_file()


def test_every_panel_named_exists_on_its_dashboard() -> None:
    panels: dict[str, set[str]] = {
        p.stem: {panel["title"] for panel in json.loads(p.read_text())["panels"]}
        for p in DASHBOARDS_JSON.glob("*.json")
    }
    refs: list[PanelRef] = [ref for spec in CATALOGUE.values() for ref in spec.answers]
    refs += [ref for row in TARGETS for ref in row.panels]
    refs += [ref for symptom in SYMPTOMS for ref in (*symptom.first, *symptom.then)]  # the on-call index
    for ref in refs:
        assert ref.panel in panels[ref.board.uid], f"{ref.board.title} has no panel {ref.panel!r}"


def test_config_fails_loudly_naming_what_is_missing_or_mistyped(tmp_path: Path) -> None:
    data = yaml.safe_load(SOURCE.read_text())
    del data["thresholds"]["avg_response_seconds"]
    data["targets"]["error_ratio"] = "0.1 %"
    data["windows"]["fast"]["rate"] = "twenty seconds"
    bad = tmp_path / "thresholds.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as raised:
        load(bad)
    message = str(raised.value)
    for where in ("thresholds.avg_response_seconds", "targets.error_ratio", "windows.fast.rate"):
        assert where in message, message


def test_templates_fail_loudly_on_an_unknown_name_and_leave_prometheus_templates_alone() -> None:
    ctx = Context(load())
    with pytest.raises(PlaceholderError, match=r"\$\{no_such_value\}"):
        ctx.fill("over ${no_such_value}")
    assert (
        ctx.fill("up{${sel}} is {{ $value | humanize }} ($)") == 'up{job="jean-memory"} is {{ $value | humanize }} ($)'
    )


def test_orphans_are_found(tmp_path: Path) -> None:
    (tmp_path / "kept.md").write_text("x")
    (tmp_path / "left-over.md").write_text("x")
    (tmp_path / "templates").mkdir()
    assert orphans({tmp_path / "kept.md": "x"}, folders=(tmp_path,)) == [tmp_path / "left-over.md"]


def test_embedding_queue_bound_leaves_room_for_the_designed_takeover() -> None:
    """A dead replica's claims wait for the lease, then a janitor period; the gauge is refreshed every
    few seconds. The alert's bound must sit well past that, or every replica restart would warn."""
    lease = Settings.model_fields["cluster_lease_s"].default
    design = lease + JANITOR_INTERVAL_S + QUEUE_STATE_INTERVAL_S
    assert load().cluster.embed_queue_oldest_seconds >= 2 * design


def test_cluster_alerts_are_in_the_catalogue_and_the_embedded_single_instance_never_needs_them() -> None:
    assert set(CATALOGUE) >= CLUSTER_ALERTS
    assert Alert.DOWN not in CLUSTER_ALERTS, "the service being down is news in every mode"
