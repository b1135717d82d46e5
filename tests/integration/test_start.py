"""A start a person can read, on real service processes: one line saying what is in force,
`JM_LOG_FORMAT` obeyed by every line (uvicorn's too), and a first start's model export announced,
without torch's warnings or a progress bar."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from jean_memory import __version__
from tests.conftest import StartService

KEYS = {"JM_API_KEYS": "a" * 32 + ":acme," + "b" * 32 + ":globex," + "c" * 32}


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_one_line_says_what_is_in_force(start_service: StartService, tmp_path: Path) -> None:
    svc = start_service({**KEYS, "JM_LOG_FORMAT": "text"})
    summary = [line for line in lines(svc.logs()) if " starting: " in line]
    assert len(summary) == 1, svc.logs()
    data = (tmp_path / "data0").resolve()
    expected = (
        f"jean-memory {__version__} starting: embedded mode, embedder hash, store sqlite:///{data}/ltm.db, "
        f"data folder {data}, auth on (3 tenants), listening on 127.0.0.1:{svc.port}"
    )
    assert summary[0].endswith(expected), summary[0]
    assert "a" * 32 not in svc.logs()
    plain = start_service({"JM_LOG_FORMAT": "text"})
    assert "auth off, listening on" in plain.logs(), plain.logs()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_log_format_is_obeyed_by_every_line(start_service: StartService, fmt: str) -> None:
    svc = start_service({"JM_LOG_FORMAT": fmt})
    svc.stop()  # uvicorn's shutdown lines too
    out = lines(svc.logs())
    assert len(out) >= 4, out  # the summary, uvicorn's start and stop
    parsed = []
    for line in out:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    if fmt == "json":
        assert all(isinstance(p, dict) for p in parsed), out
        assert any(p["msg"].startswith(f"jean-memory {__version__} starting: ") for p in parsed), out
        assert any(p["logger"].startswith("uvicorn") for p in parsed), out
    else:
        assert not any(parsed), out
        assert any("INFO uvicorn.error Uvicorn running on" in line for line in out), out


@pytest.mark.minilm
@pytest.mark.slow
def test_a_first_start_announces_the_model_export_and_prints_no_torch_warning(
    start_service: StartService, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    svc = start_service({"JM_EMBEDDER": "minilm", "JM_MODEL_CACHE": str(models), "JM_LOG_FORMAT": "text"})
    out = svc.logs()
    notice = f"first start: exporting the model sentence-transformers/all-MiniLM-L6-v2 to ONNX in {models}"
    assert notice in out, out
    assert out.index(notice) < out.index("Application startup complete"), out
    for noise in ("Warning", "warn(", "incorrect results", "Loading weights", "it/s"):
        assert noise not in out, out
    assert any(models.rglob("model.onnx"))
    svc.stop()
    again = start_service({"JM_EMBEDDER": "minilm", "JM_MODEL_CACHE": str(models), "JM_LOG_FORMAT": "text"})
    assert "first start" not in again.logs(), again.logs()


def test_make_run_installs_only_what_serving_needs() -> None:
    """`make run` once installed Prometheus, Alertmanager, PostgreSQL, HAProxy, hey and wrk; `make test` still does."""
    root = Path(__file__).resolve().parents[2]
    # Run under `make test`, an inner make inherits MAKELEVEL and prints "Entering directory" lines around its plan.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    make = ["make", "--no-print-directory", "-n"]
    run = subprocess.run([*make, "run"], cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    assert run.split() == ["scripts/install-service", "scripts/run"], run
    script = (root / "scripts" / "install-service").read_text()
    for unneeded in ("install-system", "apt-get", ".[dev]", "prometheus", "postgresql", "haproxy", "hey", "wrk"):
        assert unneeded not in script, unneeded
    test = subprocess.run([*make, "test"], cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    assert "scripts/install\n" in test, test
