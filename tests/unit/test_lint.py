"""Lint, types and layers are part of the suite: ruff (rules and format), mypy, and the import contracts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff() -> None:
    for args in (("ruff", "check", "."), ("ruff", "format", "--check", ".")):
        result = run(*args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_hold() -> None:
    """The layer rules in pyproject.toml's [tool.importlinter]: every contract kept."""
    result = subprocess.run(["lint-imports", "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_import_contracts_see_a_real_edge(tmp_path: Path) -> None:
    """A contract against an import that exists (core reads the short-term tier) is reported broken: the linter sees
    the service's graph, so the kept contracts above are not vacuous."""
    config = tmp_path / "contracts.ini"
    config.write_text(
        "[importlinter]\nroot_packages =\n    jean_memory\n\n"
        "[importlinter:contract:probe]\nname = probe\ntype = forbidden\n"
        "source_modules =\n    jean_memory.core\nforbidden_modules =\n    jean_memory.storage\n"
    )
    result = subprocess.run(
        ["lint-imports", "--no-cache", "--config", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout, result.stdout


#: The declarative tables, whose length is their content: every setting with its validation and description,
#: every metric with its help text. Every other module of the service has one job and stays short.
TABLES = {"config.py", "telemetry/metrics.py"}
MAX_MODULE_LINES = 450


def test_no_service_module_does_too_many_jobs() -> None:
    """A service module past the limit is doing more than one job: split it by job, as the journal's writer
    thread (`storage/sqlite_writer.py`) was split from the journal's schema and queries."""
    package = ROOT / "service" / "jean_memory"
    long = {
        str(path.relative_to(package)): n
        for path in sorted(package.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert set(long) <= TABLES, {m: n for m, n in long.items() if m not in TABLES}
