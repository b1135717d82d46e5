"""Property-based API testing with schemathesis against the service's own OpenAPI schema.

Every check is on but one: no 5xx, responses match the schema, schema-valid input is accepted and
invalid input rejected, and (with keys set) every call without a valid key is refused. The exception
is `use_after_free`: it assumes `/v1/memories/{id}` names one resource whatever the query, but ids are
scoped by user here (two users may each own a memory under one UUID, by design), so a DELETE for user
A followed by a GET for user B is, rightly, still 200. Deletion for the same user is tested in
tests/api/test_memories.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import StartService


def run_schemathesis(url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "use_after_free",
        "--max-examples",
        "60",
        "--workers",
        "2",
        "--seed",
        "20261124",
        "--request-timeout",
        "30",
        *extra,
    ]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_schemathesis_finds_nothing(start_service: StartService, tmp_path: Path) -> None:
    svc = start_service()
    result = run_schemathesis(svc.url, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Error" not in svc.logs().replace("ErrorOut", ""), svc.logs()[-4000:]


@pytest.mark.slow
def test_schemathesis_with_api_keys(start_service: StartService, tmp_path: Path) -> None:
    svc = start_service({"JM_API_KEYS": "secret-key-of-at-least-32-chars!"})
    result = run_schemathesis(svc.url, tmp_path, "--header", "Authorization: Bearer secret-key-of-at-least-32-chars!")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
