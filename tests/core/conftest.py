"""In-process fixtures: the real application (`create_app`) over Starlette's TestClient, real SQLite files
in a temporary folder, the hash embedder. No sockets, no subprocess: each test runs in milliseconds,
so the core use cases get fast feedback beside the process-level suites."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from jean_memory.app import create_app
from jean_memory.config import Settings

MakeClient = Callable[..., TestClient]


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "embedder": "hash",
        "gc_freeze_interval_s": 0,  # the GC policy would freeze the test runner's own objects
        "stm_warm_users": 1000,
    }
    return Settings(**(base | overrides))


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """Start the application in-process (lifespan included); every client is closed afterwards."""
    opened: list[TestClient] = []

    def make(data_dir: Path | None = None, wait_ready: bool = True, **overrides: Any) -> TestClient:
        app = create_app(settings_for(data_dir or tmp_path / "data", **overrides))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200 and wait_ready:  # as a load balancer would
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.005)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
