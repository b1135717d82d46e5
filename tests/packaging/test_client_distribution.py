"""The Python client is a distribution of its own: it imports nothing of the service or the tooling,
its dependencies are pinned, and it installs into a bare virtual environment and talks to a service."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from jean_memory_dev.processes import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
ALLOWED = {"httpx", "tenacity", "jean_memory_client"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_client_imports_only_the_standard_library_httpx_and_tenacity() -> None:
    sources = sorted((CLIENT / "src" / "jean_memory_client").rglob("*.py"))
    assert sources
    for source in sources:
        foreign = _imports(source) - ALLOWED - set(sys.stdlib_module_names) - {"__future__"}
        assert not foreign, f"{source.relative_to(ROOT)} imports {sorted(foreign)}"


def test_the_client_pins_what_it_needs_at_the_project_s_versions() -> None:
    client = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]["dependencies"]
    service = tomllib.loads((ROOT / "service" / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(d.split("==")[0] for d in client) == ["httpx", "tenacity"]
    assert all("==" in d for d in client)
    assert set(client) <= set(service), "the client pins another version than the service runs"


@pytest.mark.slow
def test_the_client_installs_alone_and_talks_to_a_service(tmp_path: Path, shared_service: ServiceProcess) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what pip installed in the venv

    def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, env=env)

    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    py = venv / "bin" / "python"
    source = tmp_path / "client"  # a copy: pip's in-tree build would leave build/ in the checkout
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    installed = run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", source)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    for module in ("jean_memory", "jean_memory_dev", "fastapi", "pydantic"):
        assert run(py, "-c", f"import {module}").returncode != 0, f"{module} came with the client"
    script = (
        "from jean_memory_client import JeanMemory\n"
        f"m = JeanMemory({shared_service.url!r})\n"
        "c = m.add('venv-user', 'installed alone')\n"
        "print(m.get('venv-user', c.id).content)\n"
    )
    talked = run(py, "-c", script)
    assert talked.returncode == 0, talked.stderr
    assert talked.stdout.strip() == "installed alone"
