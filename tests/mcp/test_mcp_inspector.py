"""The MCP Inspector's command-line mode (npm `@modelcontextprotocol/inspector`, pinned in
tools/mcp-inspector and installed by `scripts/install`) as a client independent of the Python SDK,
against a real service process: it lists the tools with its strict schema-portability check, calls
them, sees a bad argument as a tool error naming the field, and gets nothing without the key."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from jean_memory_dev.processes import ServiceProcess
from tests.mcp.test_mcp_http import TOOLS

ROOT = Path(__file__).resolve().parents[2]
INSPECTOR = ROOT / "tools" / "mcp-inspector" / "node_modules" / ".bin" / "mcp-inspector"
KEY = "mcp-inspector-key-0123456789abcdef01"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    assert INSPECTOR.exists(), "the MCP Inspector is missing: run scripts/install (npm ci in tools/mcp-inspector)"
    svc = ServiceProcess(tmp_path_factory.mktemp("inspector") / "data", env={"JM_API_KEYS": KEY}).start()
    yield svc
    svc.stop()


def inspect(svc: ServiceProcess, tmp: Path, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    """One `mcp-inspector --cli` run over Streamable HTTP; its catalogue file kept out of the home folder."""
    auth = ["--header", f"Authorization: Bearer {key}"] if key else ["--stored-auth-only"]
    env = {**os.environ, "MCP_CATALOG_PATH": str(tmp / "catalog.json")}
    command = [str(INSPECTOR), "--cli", f"{svc.url}/mcp", "--transport", "http", *auth, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_inspector_lists_the_tools_strictly(service: ServiceProcess, tmp_path: Path) -> None:
    """`--strict` reports tool-schema portability problems and exits 6 on any of error severity."""
    run = inspect(service, tmp_path, "--method", "tools/list", "--strict")
    assert run.returncode == 0, run.stderr
    tools = {t["name"]: t for t in json.loads(run.stdout)["tools"]}
    assert set(tools) == TOOLS
    assert all(t["inputSchema"]["type"] == "object" for t in tools.values())


def test_inspector_calls_the_tools(service: ServiceProcess, tmp_path: Path) -> None:
    user = f"user-{uuid.uuid4()}"
    added = inspect(
        service, tmp_path, "--method", "tools/call", "--tool-name", "add_memories",
        "--tool-arg", f"user_id={user}", "content=Dana runs marathons",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    memory_id = json.loads(added.stdout)["structuredContent"]["memories"][0]["id"]
    found = inspect(
        service, tmp_path, "--method", "tools/call", "--tool-name", "search_memories",
        "--tool-arg", f"user_id={user}", "query=Dana runs marathons", "k=3",
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert [r["id"] for r in json.loads(found.stdout)["structuredContent"]["results"]] == [memory_id]
    got = inspect(
        service, tmp_path, "--method", "tools/call", "--tool-name", "get_memory",
        "--tool-arg", f"user_id={user}", f"id={memory_id}",
    )  # fmt: skip
    assert json.loads(got.stdout)["structuredContent"]["content"] == "Dana runs marathons"


def test_inspector_sees_a_tool_error_naming_the_field(service: ServiceProcess, tmp_path: Path) -> None:
    run = inspect(
        service, tmp_path, "--method", "tools/call", "--tool-name", "search_memories", "--tool-arg", "user_id=u"
    )
    assert run.returncode != 0  # the Inspector's exit status for a result with isError
    result = json.loads(run.stdout)
    assert result["isError"] is True
    assert result["content"][0]["text"] == "query: is required"
    assert result["structuredContent"]["errors"] == [{"field": "query", "message": "is required"}]


def test_inspector_without_the_key_is_refused(service: ServiceProcess, tmp_path: Path) -> None:
    run = inspect(service, tmp_path, "--method", "tools/list", key=None)
    assert run.returncode != 0
    assert "add_memories" not in run.stdout
    wrong = inspect(service, tmp_path, "--method", "tools/list", key="not-the-key")
    assert wrong.returncode != 0
    assert "add_memories" not in wrong.stdout
