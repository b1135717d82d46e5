"""The deployable is the service alone: a fresh virtual environment with only the runtime dependencies
(what the production image's runtime stage installs: no torch, no tooling) serves MiniLM search over
HTTP from a model bundle exported elsewhere (the image's build stage)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]


def _run(*cmd: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    """Without PYTHONPATH: the venv must see only what pip installed in it (a checkout's PYTHONPATH, as a
    worktree's test run sets, would make jean_memory_dev importable there)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, env=env, **kw)  # type: ignore[call-overload]


@pytest.mark.slow
@pytest.mark.minilm
def test_runtime_dependencies_alone_serve_minilm_search(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    exported = _run(sys.executable, "-m", "jean_memory", "export-model", "--cache", cache)
    assert exported.returncode == 0, exported.stderr
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    py = venv / "bin" / "python"
    source = tmp_path / "src"  # a copy: pip's in-tree build would leave build/ in the checkout
    shutil.copytree(ROOT / "service", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    installed = _run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", source)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    for module in ("torch", "sentence_transformers", "transformers", "jean_memory_dev", "locust"):
        probe = _run(py, "-c", f"import {module}")
        assert probe.returncode != 0, f"{module} is importable in the runtime environment"
    files = _run(py, "-m", "pip", "show", "-f", "jean-memory").stdout
    assert "jean_memory/app.py" in files and "perf" not in files and "drill" not in files
    size = sum(f.stat().st_size for f in (venv / "lib").rglob("*") if f.is_file())
    bundle = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
    print(f"runtime site-packages {size / 2**20:.0f} MiB, model bundle (fp32) {bundle / 2**20:.0f} MiB")

    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "JM_PORT": str(port),
        "JM_DATA_DIR": str(tmp_path / "data"),
        "JM_MODEL_CACHE": str(cache),
        "JM_EMBEDDER": "minilm",
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen([str(venv / "bin" / "jean-memory"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/readyz", 120, proc)  # type: ignore[arg-type]
        with httpx.Client(base_url=url, timeout=30) as c:
            facts = ["I am allergic to peanuts", "My car is a red Toyota", "I moved to Berlin last spring"]
            ids = c.post("/v1/memories/batch", json={"user_id": "u", "items": [{"content": f} for f in facts]})
            assert ids.status_code == 201, ids.text
            hits = c.post("/v1/search", json={"user_id": "u", "query": "which food makes me ill", "k": 1}).json()
            assert hits["results"][0]["content"] == facts[0]
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_image_runtime_stage_carries_the_service_alone() -> None:
    """The Dockerfile exports the model in a build stage with torch; the runtime stage installs the
    service package without extras and copies only the bundle from the build stage."""
    text = (ROOT / "service" / "Dockerfile").read_text()
    stages = text.split("\nFROM ")[1:]
    assert len(stages) == 2, "two stages: export, runtime"
    export, runtime = stages
    assert "AS export" in export and "torch==2.13.0" in export and "export-model" in export
    assert runtime.startswith("python:3.11-slim AS runtime")
    assert "torch" not in runtime and "[export]" not in runtime and "tools" not in runtime and "locust" not in runtime
    assert "COPY --from=export /opt/jm-models /opt/jm-models" in runtime and "pip install . " in runtime


def test_runtime_package_imports_nothing_from_the_tooling() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "service" / "jean_memory").rglob("*.py")
        if "jean_memory_dev" in path.read_text() or "import yaml" in path.read_text()
    ]
    assert not offenders
